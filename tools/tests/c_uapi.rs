//! The C header `tools/include/uapi/linux/pagearena.h` says what the module's
//! uapi (`rust/uapi.rs`) says: this compiles a C program against the header
//! that prints every struct's size and field offsets, every ioctl number and
//! constant, and the page-state decoding of sample entries, and compares each
//! with the Rust value. The structs and their fields are read from
//! `rust/uapi.rs` itself, so a field added there and not in C fails here.

use pagearena_tools::uapi::{self, page_state};
use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf, process::Command};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `PagearenaPageStateArgs` -> `pagearena_page_state_args`.
fn c_name(rust: &str) -> String {
    let mut out = String::new();
    for (i, ch) in rust.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The `#[repr(C)]` structs of `rust/uapi.rs`: name, then (field, size).
fn rust_structs() -> Vec<(String, Vec<(String, usize)>)> {
    let src = std::fs::read_to_string(repo().join("rust/uapi.rs")).expect("read rust/uapi.rs");
    let mut out = Vec::new();
    let mut cur: Option<(String, Vec<(String, usize)>)> = None;
    for line in src.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub struct ") {
            let name = rest.trim_end_matches(" {").to_string();
            cur = Some((name, Vec::new()));
        } else if line == "}" {
            if let Some(s) = cur.take() {
                out.push(s);
            }
        } else if let (Some((_, fields)), Some(f)) = (cur.as_mut(), line.strip_prefix("pub ")) {
            let (name, ty) = f.trim_end_matches(',').split_once(": ").expect("field");
            let size = match ty {
                "u32" => 4,
                "u64" => 8,
                other => panic!("uapi field type {other} not handled by this test"),
            };
            fields.push((name.to_string(), size));
        }
    }
    out
}

fn rust_size(name: &str) -> usize {
    match name {
        "PagearenaInfo" => size_of::<uapi::PagearenaInfo>(),
        "PagearenaStats" => size_of::<uapi::PagearenaStats>(),
        "PagearenaSpaceStats" => size_of::<uapi::PagearenaSpaceStats>(),
        "PagearenaPageStateArgs" => size_of::<uapi::PagearenaPageStateArgs>(),
        "PagearenaPageoutArgs" => size_of::<uapi::PagearenaPageoutArgs>(),
        "PagearenaTraceArgs" => size_of::<uapi::PagearenaTraceArgs>(),
        "PagearenaPageStateAtArgs" => size_of::<uapi::PagearenaPageStateAtArgs>(),
        other => panic!("struct {other} in rust/uapi.rs is not known to this test: add it"),
    }
}

/// Numeric constants both sides define, with the Rust values.
fn rust_consts() -> Vec<(&'static str, u64)> {
    vec![
        (
            "PAGEARENA_UAPI_VERSION",
            uapi::PAGEARENA_UAPI_VERSION.into(),
        ),
        ("PAGEARENA_IOC_MAGIC", uapi::PAGEARENA_IOC_MAGIC.into()),
        ("PAGEARENA_SPACE_MAX_PAGES", uapi::PAGEARENA_SPACE_MAX_PAGES),
        ("PAGEARENA_PAGE_STATE_MAX", uapi::PAGEARENA_PAGE_STATE_MAX),
        ("PAGEARENA_IOC_INFO", uapi::PAGEARENA_IOC_INFO.into()),
        ("PAGEARENA_IOC_STATS", uapi::PAGEARENA_IOC_STATS.into()),
        (
            "PAGEARENA_IOC_SPACE_STATS",
            uapi::PAGEARENA_IOC_SPACE_STATS.into(),
        ),
        (
            "PAGEARENA_IOC_PAGE_STATE",
            uapi::PAGEARENA_IOC_PAGE_STATE.into(),
        ),
        ("PAGEARENA_IOC_CLONE", uapi::PAGEARENA_IOC_CLONE.into()),
        (
            "PAGEARENA_IOC_SET_FORK_MODE",
            uapi::PAGEARENA_IOC_SET_FORK_MODE.into(),
        ),
        ("PAGEARENA_IOC_PAGEOUT", uapi::PAGEARENA_IOC_PAGEOUT.into()),
        ("PAGEARENA_IOC_TRACE", uapi::PAGEARENA_IOC_TRACE.into()),
        ("PAGEARENA_IOC_IDLE", uapi::PAGEARENA_IOC_IDLE.into()),
        (
            "PAGEARENA_IOC_NEW_SPACE",
            uapi::PAGEARENA_IOC_NEW_SPACE.into(),
        ),
        (
            "PAGEARENA_IOC_PAGE_STATE_AT",
            uapi::PAGEARENA_IOC_PAGE_STATE_AT.into(),
        ),
        ("PAGEARENA_TRACE_START", uapi::PAGEARENA_TRACE_START.into()),
        ("PAGEARENA_TRACE_STOP", uapi::PAGEARENA_TRACE_STOP.into()),
        ("PAGEARENA_TRACE_MAX", uapi::PAGEARENA_TRACE_MAX),
        ("PAGEARENA_IDLE_SPACE", uapi::PAGEARENA_IDLE_SPACE as u64),
        ("PAGEARENA_IDLE_ALL", uapi::PAGEARENA_IDLE_ALL as u64),
        ("PAGEARENA_FORK_SHARED", uapi::PAGEARENA_FORK_SHARED as u64),
        ("PAGEARENA_FORK_COW", uapi::PAGEARENA_FORK_COW as u64),
        ("PAGEARENA_PS_NONE", page_state::Kind::None as u64),
        ("PAGEARENA_PS_ZERO", page_state::Kind::Zero as u64),
        ("PAGEARENA_PS_FRAME", page_state::Kind::Frame as u64),
        ("PAGEARENA_PS_SWAP", page_state::Kind::Swap as u64),
        ("PAGEARENA_PS_WRITABLE", page_state::WRITABLE),
        ("PAGEARENA_PS_DIRTY", page_state::DIRTY),
    ]
}

/// Sample page-state entries to decode on both sides.
fn entries() -> Vec<u64> {
    use page_state::{encode, Kind, DIRTY, WRITABLE};
    vec![
        0,
        encode(Kind::Zero, 0, 0, 0),
        encode(Kind::Frame, 0x12_3456_789a, 3, WRITABLE | DIRTY),
        encode(Kind::Frame, 7, 100_000, WRITABLE),
        encode(Kind::Swap, 4095, 1, DIRTY),
    ]
}

fn compile(src: &std::path::Path, out: &std::path::Path) {
    let inc = repo().join("tools/include/uapi");
    let st = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(&inc)
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .expect("run the C compiler (cc)");
    assert!(st.success(), "cc failed on {}", src.display());
}

#[test]
fn c_header_matches_the_rust_uapi() {
    let structs = rust_structs();
    assert!(
        structs.len() >= 5,
        "parsed {} structs from rust/uapi.rs",
        structs.len()
    );
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n#include <linux/pagearena.h>\n\
         int main(void) {\n",
    );
    let mut want = BTreeMap::new();
    for (name, fields) in &structs {
        let cn = c_name(name);
        // The layout the parsed fields give under repr(C) must be the real
        // Rust one, so the parse cannot miss a field.
        let mut off = 0usize;
        for (f, size) in fields {
            off = off.next_multiple_of(*size);
            writeln!(
                c,
                "printf(\"{cn}.{f} %zu\\n\", offsetof(struct {cn}, {f}));"
            )
            .unwrap();
            writeln!(
                c,
                "printf(\"{cn}.{f}.size %zu\\n\", sizeof(((struct {cn} *)0)->{f}));"
            )
            .unwrap();
            want.insert(format!("{cn}.{f}"), off as u64);
            want.insert(format!("{cn}.{f}.size"), *size as u64);
            off += size;
        }
        let size = rust_size(name);
        assert_eq!(
            off.next_multiple_of(8),
            size,
            "{name}: parsed fields vs size_of"
        );
        writeln!(c, "printf(\"sizeof {cn} %zu\\n\", sizeof(struct {cn}));").unwrap();
        want.insert(format!("sizeof {cn}"), size as u64);
    }
    for (name, v) in rust_consts() {
        writeln!(
            c,
            "printf(\"{name} %llu\\n\", (unsigned long long)({name}));"
        )
        .unwrap();
        want.insert(name.to_string(), v);
    }
    for (i, e) in entries().into_iter().enumerate() {
        let e_c = format!("{e:#x}ULL");
        for (m, v) in [
            ("KIND", page_state::kind(e) as u64),
            ("PAYLOAD", page_state::payload(e)),
            ("SHARE_COUNT", page_state::share_count(e)),
            ("WRITABLE", u64::from(e & page_state::WRITABLE != 0)),
            ("DIRTY", u64::from(e & page_state::DIRTY != 0)),
        ] {
            let expr = match m {
                "WRITABLE" | "DIRTY" => format!("(({e_c} & PAGEARENA_PS_{m}) != 0)"),
                _ => format!("PAGEARENA_PS_{m}({e_c})"),
            };
            writeln!(
                c,
                "printf(\"entry{i}.{m} %llu\\n\", (unsigned long long){expr});"
            )
            .unwrap();
            want.insert(format!("entry{i}.{m}"), v);
        }
    }
    writeln!(
        c,
        "printf(\"device %d\\n\", strcmp(PAGEARENA_DEVICE, \"{}\"));",
        uapi::PAGEARENA_DEVICE
    )
    .unwrap();
    want.insert("device".into(), 0);
    c.push_str("return 0;\n}\n");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (src, exe) = (dir.join("c_uapi.c"), dir.join("c_uapi"));
    std::fs::write(&src, c).unwrap();
    compile(&src, &exe);
    let out = Command::new(&exe).output().expect("run the compiled check");
    assert!(out.status.success());
    let got: BTreeMap<String, u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    let mut bad = Vec::new();
    for (k, v) in &want {
        match got.get(k) {
            Some(g) if g == v => {}
            g => bad.push(format!("{k}: C {g:?}, Rust {v}")),
        }
    }
    assert!(
        bad.is_empty(),
        "C header disagrees with rust/uapi.rs:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_rust_constant_is_checked() {
    // The numeric constants of rust/uapi.rs (the NR_ numbers are inside the
    // ioctl numbers; the device path is compared as a string).
    let src = std::fs::read_to_string(repo().join("rust/uapi.rs")).unwrap();
    let listed: Vec<&str> = rust_consts().iter().map(|c| c.0).collect();
    for line in src.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub const ") else {
            continue;
        };
        let name = rest.split(':').next().unwrap();
        if name.starts_with("PAGEARENA_NR_") || name == "PAGEARENA_DEVICE" {
            continue;
        }
        if name.starts_with("PAGEARENA_") {
            assert!(
                listed.contains(&name),
                "{name} is not compared with the C header"
            );
        }
    }
}

#[test]
fn c_samples_compile_warning_free() {
    let dir = repo().join("samples/c");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("samples/c") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "c") {
            let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(p.file_stem().unwrap());
            compile(&p, &exe);
            n += 1;
        }
    }
    assert!(n >= 1, "no C sample in samples/c");
}
