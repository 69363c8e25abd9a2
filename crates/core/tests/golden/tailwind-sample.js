// Copy That palette: Acme web
/** @type {import('tailwindcss').Config} */
module.exports = {
  theme: {
    extend: {
      colors: {
        // white, 42.0% of the image, contrast 1.00:1 on white and 21.00:1 on black
        "background": {
          DEFAULT: "#ffffff",
          50: "#ffffff",
          100: "#eaeaea",
          200: "#d9d9d9",
          300: "#c0c0c0",
          400: "#a2a2a2",
          500: "#888888",
          600: "#717171",
          700: "#5f5f5f",
          800: "#4d4d4d",
          900: "#404040",
          950: "#292929",
        },
        // Brand Pink!, contrast 4.60:1 on white and 4.57:1 on black
        "brand-pink": "#db2777",
        // light muted blue, 1.0% of the image, contrast 1.96:1 on white and 10.69:1 on black
        "color": "#aabbcc",
        // Acme Blue, 12.0% of the image, contrast 5.17:1 on white and 4.06:1 on black
        "primary-cool": {
          DEFAULT: "#2563eb",
          50: "#f1f6ff",
          100: "#dfeaff",
          200: "#c6daff",
          300: "#9fc0ff",
          400: "#6f9fff",
          500: "#437fff",
          600: "#2563eb",
          700: "#1d53ca",
          800: "#1945a4",
          900: "#183a83",
          950: "#0d2558",
        },
        // indigo, 5.0% of the image, contrast 6.29:1 on white and 3.34:1 on black
        "primary-warm": {
          DEFAULT: "#4f46e5",
          50: "#f3f5ff",
          100: "#e4e9ff",
          200: "#cfd7ff",
          300: "#b0bbff",
          400: "#8b97ff",
          500: "#6e74ff",
          600: "#584dff",
          700: "#4f46e5",
          800: "#3b34b2",
          900: "#312f8e",
          950: "#1e1d60",
        },
        // green, 4.0% of the image, contrast 3.30:1 on white and 6.37:1 on black
        "success": {
          DEFAULT: "#16a34a",
          50: "#edfaee",
          100: "#d7f2db",
          200: "#b6e8be",
          300: "#87d696",
          400: "#50bc6b",
          500: "#16a34a",
          600: "#00893a",
          700: "#007330",
          800: "#005e26",
          900: "#044e1f",
          950: "#023312",
        },
        // very light grey, 20.0% of the image, contrast 1.10:1 on white and 19.08:1 on black
        "surface": {
          DEFAULT: "#f3f4f6",
          50: "#f3f4f6",
          100: "#e9eaeb",
          200: "#d8d9db",
          300: "#bfc0c4",
          400: "#a0a2a6",
          500: "#86888d",
          600: "#6f7276",
          700: "#5d5f63",
          800: "#4c4e51",
          900: "#3f4043",
          950: "#28292a",
        },
        // very dark blue, 10.0% of the image, contrast 17.74:1 on white and 1.18:1 on black
        "text": {
          DEFAULT: "#111827",
          50: "#f3f5fb",
          100: "#e4eaf6",
          200: "#cfd9ef",
          300: "#b1c1e1",
          400: "#8ea2ca",
          500: "#7388b4",
          600: "#5d719b",
          700: "#4d5f83",
          800: "#3f4d6b",
          900: "#354057",
          950: "#111827",
        },
      },
    },
  },
};
