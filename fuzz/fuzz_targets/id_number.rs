//! ID numbers typed by people or imported from registry files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wz_proto::{CivilDate, IdNumber};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(id) = IdNumber::parse(s) {
        // Whatever parses must round-trip and decode consistently.
        assert_eq!(IdNumber::parse(id.as_str()).unwrap(), id);
        let _ = id.birth_date();
        let _ = id.sex();
        assert_eq!(id.masked().chars().count(), 18);
    }
    let _ = s.parse::<CivilDate>();
    let _ = CivilDate::parse_compact(s);
    let _ = s.parse::<wz_proto::AuthMode>();
});
