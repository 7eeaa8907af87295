//! The geoplan binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    geoplan::cli::main()
}
