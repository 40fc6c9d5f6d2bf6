//! Ingests one layer file into another (or inspects it with `-`), printing what it
//! learned and how long it took; for profiling (`perf record`) and quick checks.
//!
//! ```text
//! cargo run --release -p gantry-layer --example ingest_file layer.tar[.gz|.zst|.xz] out.tar|-
//! ```

use std::fs::File;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: ingest_file LAYER OUT|-");
        std::process::exit(2);
    };
    let start = Instant::now();
    let file = File::open(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
    let result = if out == "-" {
        gantry_layer::inspect(file)
    } else {
        gantry_layer::ingest(file, File::create(&out).unwrap_or_else(|e| panic!("{out}: {e}")))
    };
    let elapsed = start.elapsed().as_secs_f64();
    match result {
        Ok(info) => println!("{info:?}\n{elapsed:.3} s, {:.0} MB/s", info.tar_size as f64 / 1e6 / elapsed),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
