//! Renders a JSON list of tokens in one export format, or rewrites the exporters' golden files.
//! For tests and tools that need exports of arbitrary names (the injection tests of S28).
//!
//! `cargo run -p copythat-core --example export_tokens -- FORMAT SET_NAME < tokens.json`
//! prints the export; the input is `[{"name", "hex", "role"?, "share"?}, ...]` (an
//! `ExportToken` list). `... --example export_tokens -- --write-goldens` renders
//! `tests/golden/sample-input.json` into every `tests/golden/<format>-sample.<ext>`: run it
//! only after a deliberate change of output, and review the diff (the tests never rewrite).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use copythat_core::{ExportFormat, ExportToken, export};

const USAGE: &str =
    "usage: export_tokens FORMAT SET_NAME < tokens.json | export_tokens --write-goldens";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--write-goldens" => write_goldens(),
        [format, set_name] => {
            let Ok(format) = format.parse::<ExportFormat>() else {
                eprintln!("export_tokens: unknown format {format:?}\n{USAGE}");
                return ExitCode::from(2);
            };
            let mut input = String::new();
            if let Err(err) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("export_tokens: cannot read stdin: {err}");
                return ExitCode::FAILURE;
            }
            match serde_json::from_str::<Vec<ExportToken>>(&input) {
                Ok(tokens) => {
                    print!("{}", export(format, set_name, &tokens));
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("export_tokens: not a token list: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn write_goldens() -> ExitCode {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = std::fs::read_to_string(dir.join("sample-input.json")).expect("sample input");
    let tokens: Vec<ExportToken> = serde_json::from_str(&input).expect("a token list");
    for format in ExportFormat::ALL {
        let path = dir.join(format!("{format}-sample.{}", format.file_extension()));
        std::fs::write(&path, export(format, "Acme web", &tokens)).expect("golden written");
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
