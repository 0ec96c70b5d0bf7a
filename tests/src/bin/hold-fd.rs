//! `hold-fd PATH`: opens PATH, prints `ready`, waits for a line on stdin, then
//! reads from the descriptor it opened before — so a tracer started in between
//! sees a read on an fd it never saw opened.
use std::{
    fs::File,
    io::{self, BufRead, Read, Write},
};

fn main() -> io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: hold-fd PATH");
    let mut file = File::open(&path)?;
    writeln!(io::stdout(), "ready")?;
    io::stdout().flush()?;
    io::stdin().lock().read_line(&mut String::new())?;
    let mut buf = [0u8; 64];
    let n = file.read(&mut buf)?;
    writeln!(io::stdout(), "read {n}")?;
    Ok(())
}
