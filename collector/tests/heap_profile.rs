//! Heap profiles ([`Heap::write_heap_profile`], profile module docs), read
//! back the way a consumer reads them: the file is gunzipped and decoded
//! with a minimal protobuf reader written here, independently of the
//! collector's encoder.
//!
//! - a planted leak (`#[inline(never)]`) is the top in-use site, and its
//!   samples carry the type label and point at the leaking function;
//! - objects another function allocated and dropped are in `alloc_*` but
//!   drop out of `inuse_*` once a collection has swept them;
//! - the unsampled totals estimate the real ones (bytes and objects of
//!   mixed sizes, small and large, a fixed seed, loose bounds);
//! - four threads sampling while the pacer's cycles run and spans are swept
//!   by the background sweeper and lazily by the threads themselves: every
//!   sample freed once, none in use once nothing is reachable;
//! - an object kept for its finalizer stays in use until it really dies;
//! - an inlined function is a line of its caller's location, innermost
//!   first;
//! - sampling off writes a valid, empty profile; the rate can be turned on
//!   at run time; `TRICOLOR_HEAP_PROFILE`'s file is written when the heap
//!   goes; a failing writer's error comes back unchanged.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use flate2::read::GzDecoder;
use tricolor_collector::{Config, Heap, Mutator, TypeDescriptor, TypeId};

// ---- a minimal protobuf reader ---------------------------------------------

#[derive(Debug, Clone)]
enum Value {
    Varint(u64),
    Bytes(Vec<u8>),
}

fn read_varint(buf: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Vec<(u32, Value)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = read_varint(buf, &mut at);
        let field = (key >> 3) as u32;
        match key & 7 {
            0 => out.push((field, Value::Varint(read_varint(buf, &mut at)))),
            2 => {
                let len = read_varint(buf, &mut at) as usize;
                out.push((field, Value::Bytes(buf[at..at + len].to_vec())));
                at += len;
            }
            w => panic!("wire type {w} is not used by profile.proto's fields here"),
        }
    }
    out
}

/// A repeated integer field, packed or not.
fn ints(fs: &[(u32, Value)], field: u32) -> Vec<u64> {
    let mut out = Vec::new();
    for (f, v) in fs {
        if *f != field {
            continue;
        }
        match v {
            Value::Varint(x) => out.push(*x),
            Value::Bytes(b) => {
                let mut at = 0;
                while at < b.len() {
                    out.push(read_varint(b, &mut at));
                }
            }
        }
    }
    out
}

fn int(fs: &[(u32, Value)], field: u32) -> u64 {
    ints(fs, field).first().copied().unwrap_or(0)
}

fn messages(fs: &[(u32, Value)], field: u32) -> Vec<Vec<(u32, Value)>> {
    fs.iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, v)| match v {
            Value::Bytes(b) => fields(b),
            Value::Varint(_) => panic!("field {field} is not a message"),
        })
        .collect()
}

#[derive(Debug)]
struct Sample {
    /// Function names of the first line of each location, innermost
    /// first, and every line's.
    frames: Vec<Vec<String>>,
    values: Vec<u64>,
    labels: HashMap<String, String>,
    bytes: u64,
}

impl Sample {
    fn top(&self) -> &str {
        &self.frames[0][0]
    }
}

#[derive(Debug)]
struct Decoded {
    sample_types: Vec<(String, String)>,
    samples: Vec<Sample>,
    period_type: (String, String),
    period: u64,
    default_sample_type: String,
    mapping_has_functions: bool,
}

impl Decoded {
    fn index(&self, ty: &str) -> usize {
        self.sample_types
            .iter()
            .position(|(t, _)| t == ty)
            .unwrap_or_else(|| panic!("no sample type {ty}"))
    }

    /// Sums of `ty`'s values per top function, largest first.
    fn by_top(&self, ty: &str) -> Vec<(String, u64)> {
        let i = self.index(ty);
        let mut m: HashMap<String, u64> = HashMap::new();
        for s in &self.samples {
            *m.entry(s.top().to_string()).or_default() += s.values[i];
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v
    }

    fn total(&self, ty: &str, top_contains: &str) -> u64 {
        let i = self.index(ty);
        self.samples
            .iter()
            .filter(|s| s.top().contains(top_contains))
            .map(|s| s.values[i])
            .sum()
    }
}

fn decode(file: &[u8]) -> Decoded {
    let mut raw = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut raw)
        .expect("the profile is gzipped");
    let p = fields(&raw);
    let strings: Vec<String> = p
        .iter()
        .filter(|(f, _)| *f == 6)
        .map(|(_, v)| match v {
            Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
            Value::Varint(_) => panic!("string_table holds strings"),
        })
        .collect();
    assert_eq!(
        strings.first().map(String::as_str),
        Some(""),
        "string 0 is empty"
    );
    let s = |i: u64| strings[i as usize].clone();
    let vt = |m: &[(u32, Value)]| (s(int(m, 1)), s(int(m, 2)));
    let functions: HashMap<u64, String> = messages(&p, 5)
        .iter()
        .map(|f| (int(f, 1), s(int(f, 2))))
        .collect();
    let locations: HashMap<u64, Vec<String>> = messages(&p, 4)
        .iter()
        .map(|l| {
            assert_eq!(int(l, 2), 1, "every location is in mapping 1");
            let lines = messages(l, 4)
                .iter()
                .map(|line| functions[&int(line, 1)].clone())
                .collect();
            (int(l, 1), lines)
        })
        .collect();
    let samples = messages(&p, 2)
        .iter()
        .map(|m| {
            let mut labels = HashMap::new();
            let mut bytes = 0;
            for l in messages(m, 3) {
                let key = s(int(&l, 1));
                if key == "bytes" {
                    bytes = int(&l, 3);
                } else {
                    labels.insert(key, s(int(&l, 2)));
                }
            }
            Sample {
                frames: ints(m, 1).iter().map(|id| locations[id].clone()).collect(),
                values: ints(m, 2),
                labels,
                bytes,
            }
        })
        .collect();
    let mappings = messages(&p, 3);
    assert_eq!(mappings.len(), 1);
    Decoded {
        sample_types: messages(&p, 1).iter().map(|m| vt(m)).collect(),
        samples,
        period_type: vt(&messages(&p, 11)[0]),
        period: int(&p, 12),
        default_sample_type: s(int(&p, 14)),
        mapping_has_functions: int(&mappings[0], 7) == 1,
    }
}

fn write(heap: &Heap) -> Vec<u8> {
    let mut file = Vec::new();
    heap.write_heap_profile(&mut file).unwrap();
    file
}

// ---- the program being profiled ---------------------------------------------

/// Allocates `n` nodes and keeps them, linked from root `slot`: the leak.
#[inline(never)]
fn plant_leak(m: &mut Mutator, node: TypeId, slot: usize, n: usize) {
    for _ in 0..n {
        let obj = m.alloc(node, 0);
        // SAFETY: `obj` is fresh (no safepoint since), word 0 of `LeakNode`
        // is a pointer, and the old head is rooted.
        unsafe { m.store(obj, 0, m.root(slot)) };
        m.set_root(slot, Some(obj));
    }
}

/// Allocates `n` objects and keeps none.
#[inline(never)]
fn churn(m: &mut Mutator, temp: TypeId, n: usize) {
    for _ in 0..n {
        std::hint::black_box(m.alloc(temp, 0));
    }
}

#[test]
fn planted_leak_is_the_top_in_use_site_and_freed_objects_drop_out() {
    let heap = Heap::new(Config {
        heap_profile_rate: Some(4096),
        ..Config::default()
    });
    let node = heap
        .register_type(TypeDescriptor::fixed("LeakNode", 2, &[0]))
        .unwrap();
    let temp = heap
        .register_type(TypeDescriptor::fixed("Temp", 5, &[]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let slot = m.push_root(None);
    plant_leak(&mut m, node, slot, 20_000);
    churn(&mut m, temp, 100_000);
    m.collect();
    let p = m.native(|| decode(&write(&heap)));

    assert_eq!(
        p.sample_types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(p.period_type, ("space".into(), "bytes".into()));
    assert_eq!(p.period, 4096);
    assert_eq!(p.default_sample_type, "inuse_space");
    assert!(p.mapping_has_functions);

    let inuse = p.by_top("inuse_space");
    assert!(
        inuse[0].0.ends_with("plant_leak"),
        "the leak is the top in-use site: {inuse:?}"
    );
    for s in &p.samples {
        let ty = &s.labels["type"];
        if s.top().ends_with("plant_leak") {
            assert_eq!(ty, "LeakNode");
            assert_eq!(s.bytes, 24, "a header and two words");
        } else if s.top().ends_with("churn") {
            assert_eq!(ty, "Temp");
        } else {
            panic!("a sample from neither function: {s:?}");
        }
        for frame in &s.frames[0] {
            assert!(
                !frame.starts_with("tricolor_collector::") || s.frames[0].len() > 1,
                "the collector's frames are trimmed: {:?}",
                s.frames
            );
        }
    }
    // The leak's estimate: 20,000 objects of 24 bytes, 480,000 bytes.
    let leak = p.total("inuse_space", "plant_leak");
    assert!(
        (300_000..=700_000).contains(&leak),
        "leak in use {leak}, real 480,000"
    );
    assert_eq!(
        p.total("inuse_space", "plant_leak"),
        p.total("alloc_space", "plant_leak")
    );
    // Churn: allocated, all freed by the collection's sweep.
    let churned = p.total("alloc_objects", "churn");
    assert!(
        (70_000..=130_000).contains(&churned),
        "churn allocated {churned}, real 100,000"
    );
    assert_eq!(p.total("inuse_objects", "churn"), 0);
    assert_eq!(p.total("inuse_space", "churn"), 0);

    // Frees are counted across cycles: the leak freed later drops out too.
    m.set_root(slot, None);
    m.collect();
    let p = m.native(|| decode(&write(&heap)));
    assert_eq!(p.total("inuse_space", "plant_leak"), 0);
    assert!(p.total("alloc_space", "plant_leak") > 0);
}

#[test]
fn estimates_match_the_real_totals() {
    // No collection: everything allocated is still allocated, so the
    // allocator's exact counts are the truth.
    let heap = Heap::new(Config {
        heap_profile_rate: Some(8192),
        manual_cycles: true,
        ..Config::default()
    });
    let small = heap
        .register_type(TypeDescriptor::fixed("Small", 1, &[]))
        .unwrap();
    let medium = heap
        .register_type(TypeDescriptor::fixed("Medium", 30, &[0]))
        .unwrap();
    let blob = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
    let mut m = heap.attach().unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match i % 4 {
            0 | 1 => drop(m.alloc(small, 0)),
            2 => drop(m.alloc(medium, 0)),
            _ if i % 400 == 3 => drop(m.alloc(blob, 40_000 + (x % 20_000) as usize)),
            _ => drop(m.alloc(blob, (x % 2000) as usize)),
        }
    }
    let real = m.heap_alloc();
    let summary = m.native(|| heap.write_heap_profile(io::sink())).unwrap();
    let ratio = |est: u64, real: u64| est as f64 / real as f64;
    let bytes = ratio(summary.alloc_bytes, real.bytes);
    let objects = ratio(summary.alloc_objects, real.objects);
    assert!(
        (0.85..1.15).contains(&bytes),
        "bytes: estimated {} real {} ({summary:?})",
        summary.alloc_bytes,
        real.bytes
    );
    assert!(
        (0.8..1.2).contains(&objects),
        "objects: estimated {} real {} ({summary:?})",
        summary.alloc_objects,
        real.objects
    );
    assert_eq!(summary.inuse_bytes, summary.alloc_bytes, "nothing freed");
}

#[test]
fn threads_sample_while_cycles_run_and_sweeps_count_every_free() {
    let heap = Heap::new(Config {
        heap_profile_rate: Some(2048),
        ..Config::default()
    });
    heap.set_gc_percent(Some(25)); // many cycles
    let node = heap
        .register_type(TypeDescriptor::fixed("LeakNode", 2, &[0]))
        .unwrap();
    let temp = heap
        .register_type(TypeDescriptor::fixed("Temp", 5, &[]))
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let heap = &heap;
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                let slot = m.push_root(None);
                for round in 0..20 {
                    plant_leak(&mut m, node, slot, 2_000);
                    churn(&mut m, temp, 10_000);
                    if round % 5 == 4 {
                        m.set_root(slot, None); // the kept list dies too
                    }
                }
                m.set_root(slot, None);
            });
        }
    });
    assert!(heap.stats().cycles > 2, "cycles ran while sampling");
    heap.collect();
    let p = decode(&write(&heap));
    assert!(p.total("alloc_objects", "plant_leak") > 0);
    assert!(p.total("alloc_objects", "churn") > 0);
    // Every sampled object is unreachable and swept: nothing is in use
    // (a free counted twice would have tripped the buckets' debug check,
    // a missed one would show here).
    assert_eq!(
        p.total("inuse_objects", ""),
        0,
        "{:?}",
        p.by_top("inuse_objects")
    );
}

#[test]
fn an_object_kept_for_its_finalizer_stays_in_use() {
    // Rate 1: every object is sampled.
    let heap = Heap::new(Config {
        heap_profile_rate: Some(1),
        manual_cycles: true,
        ..Config::default()
    });
    let node = heap
        .register_type(TypeDescriptor::fixed("Finalized", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let obj = m.alloc(node, 0);
    m.set_finalizer(obj, |_, _| {}).unwrap();
    m.collect(); // found dead: kept one more cycle, finalizer queued
    m.wait_for_finalizers();
    let p = m.native(|| decode(&write(&heap)));
    assert_eq!(p.total("inuse_objects", ""), 1, "kept for its finalizer");
    m.collect(); // now it dies
    let p = m.native(|| decode(&write(&heap)));
    assert_eq!(p.total("inuse_objects", ""), 0);
    assert_eq!(p.total("alloc_objects", ""), 1);
}

#[inline(always)]
fn inlined_alloc(m: &mut Mutator, ty: TypeId) {
    std::hint::black_box(m.alloc(ty, 0));
}

#[inline(never)]
fn calls_an_inlined_alloc(m: &mut Mutator, ty: TypeId, n: usize) {
    for _ in 0..n {
        inlined_alloc(m, ty);
    }
}

#[test]
fn inlined_frames_are_lines_of_one_location() {
    let heap = Heap::new(Config {
        heap_profile_rate: Some(1024),
        manual_cycles: true,
        ..Config::default()
    });
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    calls_an_inlined_alloc(&mut m, node, 1_000);
    let p = m.native(|| decode(&write(&heap)));
    let s = p
        .samples
        .iter()
        .find(|s| s.top().ends_with("inlined_alloc"))
        .unwrap_or_else(|| panic!("no sample from inlined_alloc: {:?}", p.samples));
    let lines = &s.frames[0];
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].ends_with("calls_an_inlined_alloc"), "{lines:?}");
}

#[test]
fn sampling_off_writes_an_empty_valid_profile() {
    let heap = Heap::new(Config::default());
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    churn(&mut m, node, 50_000);
    let p = m.native(|| decode(&write(&heap)));
    assert!(p.samples.is_empty());
    assert_eq!(p.sample_types.len(), 4);
    assert_eq!(p.default_sample_type, "inuse_space");
    assert_eq!(p.period, 0);
}

#[test]
fn the_rate_can_change_at_run_time() {
    let heap = Heap::new(Config::default());
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    churn(&mut m, node, 10_000);
    assert_eq!(heap.set_heap_profile_rate(Some(1024)), None);
    churn(&mut m, node, 50_000);
    assert_eq!(heap.set_heap_profile_rate(None), Some(1024));
    let summary = m.native(|| heap.write_heap_profile(io::sink())).unwrap();
    // 50,000 × 32 bytes sampled at 1 KiB: about 1,560 samples. The first
    // report interval after the change may go unsampled.
    assert!(
        (1_000_000..2_200_000).contains(&summary.alloc_bytes),
        "{summary:?}"
    );
    let before = summary.alloc_objects;
    churn(&mut m, node, 50_000);
    let after = m.native(|| heap.write_heap_profile(io::sink())).unwrap();
    assert!(
        after.alloc_objects - before < 5_000,
        "off again within a report interval: {after:?}"
    );
}

#[test]
fn the_environment_file_is_written_when_the_heap_goes() {
    let path = std::env::temp_dir().join(format!("tricolor-heap-{}.pb.gz", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let config = Config::default()
        .with_env(|k| match k {
            "TRICOLOR_HEAP_PROFILE" => Some(path.display().to_string()),
            "TRICOLOR_HEAP_PROFILE_RATE" => Some("2048".into()),
            _ => None,
        })
        .unwrap();
    let heap = Heap::new(config);
    let node = heap
        .register_type(TypeDescriptor::fixed("Kept", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let slot = m.push_root(None);
    plant_leak(&mut m, node, slot, 5_000);
    let second = heap.clone();
    drop(heap);
    drop(m);
    assert!(!path.exists(), "a handle is left");
    drop(second);
    let p = decode(&std::fs::read(&path).expect("written at the last drop"));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(p.period, 2048);
    assert!(p.by_top("inuse_space")[0].0.ends_with("plant_leak"));
}

#[test]
fn write_errors_come_back() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let heap = Heap::new(Config::default());
    let e = heap.write_heap_profile(Full).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    assert_eq!(e.to_string(), "disk full");
}
