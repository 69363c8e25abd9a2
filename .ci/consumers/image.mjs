// Writes a PNG that looks like a small web page (white page, grey panel, dark text, a blue
// button, a green badge), so `copythat extract` finds a real palette with a primary colour.
//   node image.mjs OUT.png
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const [w, h] = [320, 200];
const paint = [
  // [x0, y0, x1, y1, rgb]: later boxes paint over earlier ones.
  [0, 0, w, h, [255, 255, 255]],
  [0, 0, w, 28, [243, 244, 246]],
  [20, 48, 300, 150, [243, 244, 246]],
  [36, 60, 260, 66, [17, 24, 39]],
  [36, 76, 220, 80, [17, 24, 39]],
  [36, 86, 240, 90, [17, 24, 39]],
  [36, 104, 150, 136, [37, 99, 235]],
  [170, 110, 230, 130, [22, 163, 74]],
  [0, 170, w, h, [17, 24, 39]],
];
const rows = [];
for (let y = 0; y < h; y++) {
  const row = Buffer.alloc(1 + w * 3);
  for (let x = 0; x < w; x++) {
    let rgb = [0, 0, 0];
    for (const [x0, y0, x1, y1, c] of paint) if (x >= x0 && x < x1 && y >= y0 && y < y1) rgb = c;
    row.set(rgb, 1 + x * 3);
  }
  rows.push(row);
}
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc(body));
  return Buffer.concat([len, body, sum]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(w, 0);
ihdr.writeUInt32BE(h, 4);
ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
writeFileSync(
  process.argv[2],
  Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]),
);
