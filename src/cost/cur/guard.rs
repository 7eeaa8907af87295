//! A decoder's panic on damaged input, caught at the unit it was reading and turned into
//! that unit's error, so no input can crash `geoplan cost`. Decoders (the parquet crate's
//! and geoplan's own) are meant to return errors; this is the net under them.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// This thread is inside [`guarded`]: a panic here is reported as an error, so the
    /// panic hook stays quiet.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it comes back as `Err` with the panic's message, and prints
/// nothing. (What `f` was changing is to be thrown away with the error.)
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.get() {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.set(outer);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_a_result_passes_through() {
        let v: Vec<u8> = Vec::new();
        let e = guarded(|| v[3]).unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
        assert_eq!(guarded(|| 7), Ok(7));
        // Outside a guard, panics still reach the hook (and the test harness).
        assert!(!GUARDED.get());
    }
}
