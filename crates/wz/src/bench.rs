//! `wz bench verify`: end-to-end verifications per second over HTTP on
//! loopback, for SQLite and PostgreSQL, beside the crypto floor measured in
//! the same run. Traffic goes to 127.0.0.1 only and is bounded in count.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wz_crypto::Sm2PrivateKey;
use wz_platform::registry::Person;
use wz_platform::{Platform, PlatformConfig};
use wz_proto::{CivilDate, CredentialId, IdNumber, QrBody, RequestAuth, RequestTarget};
use wz_store::Backend;

use crate::{env, http1};

/// The benchmark's own database: a SQLite file in a temporary folder, or a
/// fresh schema in `WZ_BENCH_PG_URL` (default: the local PostgreSQL's `test`
/// database), dropped afterwards. Nothing here is shared with a real store.
struct BenchStore {
    store: wz_store::Store,
    schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchStore {
    async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Self {
                    store: wz_store::Store::connect(&url).await?,
                    schema: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let base = std::env::var("WZ_BENCH_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
                let schema = format!("wz_bench_{}", std::process::id());
                Self::admin_sql(&base, &format!("CREATE SCHEMA {schema}")).await?;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Ok(Self {
                    store: wz_store::Store::connect(&url).await?,
                    schema: Some((base, schema)),
                    _dir: None,
                })
            }
        }
    }

    async fn admin_sql(url: &str, sql: &str) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    async fn cleanup(self) -> anyhow::Result<()> {
        self.store.close().await;
        if let Some((base, schema)) = self.schema {
            Self::admin_sql(&base, &format!("DROP SCHEMA {schema} CASCADE")).await?;
        }
        Ok(())
    }
}

/// One pre-signed request.
#[allow(clippy::disallowed_methods)] // benchmark timing is the edge
fn instant() -> Instant {
    Instant::now()
}

/// SM2 decrypt + device-signature verify + verdict sign per second on one
/// thread: the crypto work every QR verification must do.
fn crypto_floor_one(iterations: u32) -> anyhow::Result<f64> {
    let platform = Sm2PrivateKey::generate()?;
    let device = Sm2PrivateKey::generate()?;
    let body = QrBody {
        cred_id: CredentialId([1; 16]),
        issued_at: 1,
        counter: 1,
        nonce: [2; 8],
    };
    let qr = body.seal(&device, platform.public_key())?;
    let env = wz_proto::QrEnvelope::parse(&qr)?;
    let start = instant();
    for _ in 0..iterations {
        let signed = env.open(&platform)?;
        // The device key as the platform has it: parsed from its stored
        // bytes on every request (no table: one key, one QR).
        let device_key = wz_crypto::Sm2PublicKey::from_sec1_bytes(&device.public_key().to_sec1_bytes())?;
        signed.verify(&device_key)?;
        platform.sign(b"verdict body of about two hundred bytes")?;
    }
    Ok(f64::from(iterations) / start.elapsed().as_secs_f64())
}

/// The crypto floor of this machine, measured now: one thread alone, and
/// one thread per core all at once (what the machine can really do when
/// every core works; on a shared or throttled host it is less than the
/// single figure times the cores). The second is the floor the
/// verification rate is compared with.
#[derive(Debug, Clone, Copy)]
pub struct CryptoFloor {
    pub one_core: f64,
    pub cores: usize,
    pub all_cores: f64,
}

pub fn crypto_floor(iterations: u32) -> anyhow::Result<CryptoFloor> {
    // Warm-up (tables, caches), then one thread alone, then every core.
    crypto_floor_one(iterations / 10 + 1)?;
    let one_core = crypto_floor_one(iterations)?;
    let (cores, all_cores) = crypto_floor_all_cores(iterations)?;
    Ok(CryptoFloor {
        one_core,
        cores,
        all_cores,
    })
}

/// The floor with one thread per core all at once: the cores and their
/// verifications per second together.
pub fn crypto_floor_all_cores(iterations: u32) -> anyhow::Result<(usize, f64)> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let rate = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| scope.spawn(|| crypto_floor_one(iterations)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("floor thread panicked"))?)
            .sum::<anyhow::Result<f64>>()
    })?;
    Ok((cores, rate))
}

/// RP request-signature checks per second on one core: the fourth SM2
/// operation of every verification, outside the floor. `table`: with the
/// precomputed table the platform keeps for a key it has seen before.
pub fn rp_signature_rate(iterations: u32, table: bool) -> anyhow::Result<f64> {
    let rp = Sm2PrivateKey::generate()?;
    let key = if table {
        rp.public_key().clone().with_verify_table()
    } else {
        rp.public_key().clone()
    };
    let body = vec![b'x'; 400];
    let target = RequestTarget {
        method: "POST",
        path: wz_proto::routes::VERIFY,
        body: &body,
    };
    let auth = RequestAuth::sign(
        &rp,
        "bench-gate",
        &target,
        1,
        &wz_proto::signed_http::new_nonce()?,
    )?;
    let start = instant();
    for _ in 0..iterations {
        auth.verify_signature(&key, &target)?;
    }
    Ok(f64::from(iterations) / start.elapsed().as_secs_f64())
}

/// CPU seconds this process has used so far (user + system, every
/// thread), from `/proc/self/stat`; `None` where that is not readable.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is the
    // first, utime the 12th, stime the 13th, in clock ticks (100 a second
    // on Linux).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

struct Setup {
    addr: std::net::SocketAddr,
    /// The one RP: id and key.
    rp: (String, Sm2PrivateKey),
    wallets: Vec<(Sm2PrivateKey, CredentialId)>,
    enc: wz_crypto::Sm2PublicKey,
    store: BenchStore,
    server: tokio::task::JoinHandle<()>,
}

async fn setup(backend: Backend, citizens: usize) -> anyhow::Result<Setup> {
    let store = BenchStore::new(backend)
        .await
        .context("creating the benchmark's own store")?;
    let config = PlatformConfig {
        pin_lock_after: 5,
        ..PlatformConfig::default()
    };
    let master = wz_platform::keys::MasterKey::from_hex(&wz_platform::keys::MasterKey::generate_hex()?)?;
    let face: Arc<dyn wz_platform::face::FaceEngine> = Arc::new(wz_platform::face::NoFaceEngine);
    let now = env::now();
    let platform = Arc::new(Platform::open(store.store.clone(), config, master, face, vec![], now).await?);
    // The same seeding as `wz bench load`: one QR-only RP, `citizens` wallets.
    let seeded = crate::load::seed(&platform, 1, citizens, &[]).await?;
    let rp = seeded.rps.into_iter().next().context("no RP seeded")?;
    let wallets = seeded.wallets;
    let enc = platform.keys().encryption.current().public_key().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = wz_platform::http::router(Arc::clone(&platform));
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    Ok(Setup {
        addr,
        rp,
        wallets,
        enc,
        store,
        server,
    })
}

/// `per_wallet` requests for each of the first `wallets` wallets,
/// counters continuing from `first_counter`, as the bytes to send.
fn prepare(
    s: &Setup,
    wallets: usize,
    per_wallet: usize,
    first_counter: u32,
) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let mut all = Vec::with_capacity(wallets);
    for wallet in s.wallets.iter().take(wallets) {
        let list = (0..per_wallet)
            .map(|k| {
                let p = crate::load::prepare(&s.rp, wallet, &s.enc, first_counter + u32::try_from(k)?, None)?;
                Ok(http1::post_bytes(
                    &s.addr,
                    wz_proto::routes::VERIFY,
                    &p.headers,
                    &p.body,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        all.push(list);
    }
    Ok(all)
}

/// Sends one request: its latency and how it ended (`pass`, another
/// result code, `http_NNN` or `transport`), never an error, so that one
/// failure is counted and named instead of ending the run.
async fn send(conn: &mut http1::Connection, request: &[u8]) -> (Duration, String) {
    let start = instant();
    let reply = conn.round_trip(request).await;
    let elapsed = start.elapsed();
    let outcome = match reply {
        Err(_) => "transport".to_owned(),
        Ok((status, body)) => crate::load::verdict_outcome(status, &body).0,
    };
    (elapsed, outcome)
}

/// Result of one back end's run.
#[derive(Debug)]
pub struct BackendFigures {
    pub backend: Backend,
    pub peak_per_s: f64,
    pub p50_ms_at_peak: f64,
    pub p99_ms_at_peak: f64,
    pub half_rate_per_s: f64,
    pub p99_ms_at_half: f64,
    /// CPU milliseconds the whole process (load client and server) used
    /// per verification in the closed loop, and the cores it kept busy.
    pub cpu_ms_per_verification: Option<f64>,
    pub cores_busy: Option<f64>,
    /// Requests not passed, by how they ended.
    pub failures: BTreeMap<String, usize>,
}

/// Wallets the open loop at half rate takes turns with (at 1,000/s, one
/// request of a wallet every 64 ms).
const HALF_RATE_WALLETS: usize = 64;

pub async fn run_backend(
    backend: Backend,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<BackendFigures> {
    // The open loop spreads its requests over more wallets: a wallet's
    // next QR (a higher counter) must not overtake its previous one, which
    // would be refused as a replay, as a real wallet's could not.
    let s = setup(backend, concurrency.max(HALF_RATE_WALLETS)).await?;
    // Plain HTTP on loopback: this measures the verification path, not
    // TLS; the lean client keeps the load generator's share of the cores
    // small (see `http1`).
    let pool = Arc::new(http1::Pool::new(s.addr));
    let per_wallet = requests.div_ceil(concurrency);
    // Warm-up: one request per wallet (caches, prepared statements), over
    // the connections the closed loop then takes.
    let mut conns: Vec<_> = (0..concurrency).map(|_| pool.take()).collect();
    for (i, list) in prepare(&s, s.wallets.len(), 1, 1)?.into_iter().enumerate() {
        if let Some(conn) = conns.get_mut(i % concurrency.max(1)) {
            for p in list {
                send(conn, &p).await;
            }
        }
    }
    for conn in conns {
        pool.put(conn);
    }
    // Closed loop: every wallet's requests back to back, all wallets at once.
    let batches = prepare(&s, concurrency, per_wallet, 2)?;
    let cpu_before = process_cpu_secs();
    let start = instant();
    let mut tasks = Vec::new();
    for list in batches {
        let mut conn = pool.take();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(list.len());
            for p in list {
                out.push(send(&mut conn, &p).await);
            }
            (out, conn)
        }));
    }
    let mut lat = Vec::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        // The open loop below starts on these connections.
        let (out, conn) = t.await?;
        pool.put(conn);
        for (d, outcome) in out {
            lat.push(d);
            if outcome != "pass" {
                *failures.entry(outcome).or_default() += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(process_cpu_secs()).map(|(a, b)| b - a);
    lat.sort_unstable();
    let peak = lat.len() as f64 / elapsed;

    // Open loop at half the peak rate: requests start on a fixed schedule.
    let half = peak / 2.0;
    let wallets = s.wallets.len();
    let n_half = (requests / 2).max(wallets);
    let batches = prepare(
        &s,
        wallets,
        n_half.div_ceil(wallets),
        2 + u32::try_from(per_wallet)?,
    )?;
    let mut queue: Vec<Vec<u8>> = Vec::new();
    let mut iters: Vec<_> = batches.into_iter().map(Vec::into_iter).collect();
    // Interleave wallets so each wallet's counters stay in order in time.
    loop {
        let mut any = false;
        for it in &mut iters {
            if let Some(p) = it.next() {
                queue.push(p);
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    let interval = Duration::from_secs_f64(1.0 / half);
    let start = instant();
    let mut tasks = Vec::new();
    for (i, p) in queue.into_iter().enumerate() {
        let due = interval.mul_f64(i as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.take();
            let out = send(&mut conn, &p).await;
            pool.put(conn);
            out
        }));
    }
    let mut half_lat = Vec::new();
    for t in tasks {
        let (d, outcome) = t.await?;
        half_lat.push(d);
        if outcome != "pass" {
            *failures.entry(outcome).or_default() += 1;
        }
    }
    let half_elapsed = start.elapsed().as_secs_f64();
    half_lat.sort_unstable();
    s.server.abort();
    s.store.cleanup().await?;
    Ok(BackendFigures {
        backend,
        peak_per_s: peak,
        p50_ms_at_peak: percentile(&lat, 0.5),
        p99_ms_at_peak: percentile(&lat, 0.99),
        half_rate_per_s: half_lat.len() as f64 / half_elapsed,
        p99_ms_at_half: percentile(&half_lat, 0.99),
        cpu_ms_per_verification: cpu.map(|c| c * 1000.0 / lat.len().max(1) as f64),
        cores_busy: cpu.map(|c| c / elapsed),
        failures,
    })
}

/// What `wz bench verify` measures, and how much of it.
#[derive(Debug, Clone, Copy)]
pub struct VerifyPlan {
    /// Requests in the closed-loop phase (half as many at half rate).
    pub requests: usize,
    pub concurrency: usize,
    /// Iterations of each crypto-floor measurement, per thread.
    pub floor_iterations: u32,
    /// Rows of the registry-import measurement (0: skipped).
    pub import_rows: usize,
}

pub async fn verify(
    backends: &[Backend],
    plan: &VerifyPlan,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let VerifyPlan {
        requests,
        concurrency,
        floor_iterations,
        import_rows,
    } = *plan;
    if !(1..=200_000).contains(&requests) || !(1..=512).contains(&concurrency) {
        bail!("requests must be 1..=200000 and concurrency 1..=512");
    }
    if !(1..=100_000).contains(&floor_iterations) || import_rows > 1_000_000 {
        bail!("floor iterations must be 1..=100000 and import rows at most 1000000");
    }
    let f = crypto_floor(floor_iterations)?;
    let floor = f.all_cores;
    let floor_one_core = f.one_core;
    writeln!(
        out,
        "crypto floor: {:.0} verifications/s on one core; {floor:.0}/s on {} cores at once ({:.2} of {} x one core)",
        f.one_core,
        f.cores,
        floor / (f.one_core * f.cores as f64),
        f.cores
    )?;
    writeln!(
        out,
        "(SM2 decrypt + device-signature verify + verdict sign per request, measured now)"
    )?;
    // The RP's request signature is checked too: with it, zero other cost
    // would still reach only this share of the floor.
    let rp_plain = rp_signature_rate(floor_iterations, false)?;
    let rp_check = rp_signature_rate(floor_iterations, true)?;
    let ceiling = (1.0 / f.one_core) / (1.0 / f.one_core + 1.0 / rp_check);
    writeln!(
        out,
        "RP request-signature check: {rp_plain:.0}/s on one core, {rp_check:.0}/s with the key's table ({:.1}x); with it the SM2 work alone caps a verification at {ceiling:.2} of the floor",
        rp_check / rp_plain
    )?;
    for b in backends {
        // This host's speed drifts (shared cores): the floor is measured
        // again right before and right after each backend's run, and the
        // run is compared with their mean.
        let (_, before) = crypto_floor_all_cores(floor_iterations)?;
        let f = run_backend(*b, requests, concurrency).await?;
        let (_, after) = crypto_floor_all_cores(floor_iterations)?;
        let around = (before + after) / 2.0;
        writeln!(
            out,
            "{:?}: {:.0} verifications/s ({:.2} of the floor around it: {around:.0}/s, {before:.0} before, {after:.0} after), p50 {:.1} ms, p99 {:.1} ms at peak; at {:.0}/s (half): p99 {:.1} ms; {} not passed",
            f.backend,
            f.peak_per_s,
            f.peak_per_s / around,
            f.p50_ms_at_peak,
            f.p99_ms_at_peak,
            f.half_rate_per_s,
            f.p99_ms_at_half,
            f.failures.values().sum::<usize>()
        )?;
        if let (Some(ms), Some(busy)) = (f.cpu_ms_per_verification, f.cores_busy) {
            writeln!(
                out,
                "{:?}: CPU {ms:.2} ms per verification (client and server; the floor's SM2 work: {:.2} ms on one core), {busy:.2} cores busy",
                f.backend,
                1000.0 / floor_one_core
            )?;
        }
        if !f.failures.is_empty() {
            bail!("verifications did not pass: {:?}", f.failures);
        }
        if import_rows == 0 {
            continue;
        }
        let rows = import_rows;
        let rate = import_rate(*b, rows).await?;
        writeln!(
            out,
            "{:?}: registry import without photos {rate:.0} rows/s ({rows} rows, batches of {})",
            b,
            crate::registry::DEFAULT_BATCH
        )?;
    }
    Ok(())
}

/// Registry import without photos: rows sealed (SM4-GCM, blind index) on
/// every core and stored in batches of 500, many rows a statement, as
/// `Platform::import_people` does; rows per second.
pub async fn import_rate(backend: Backend, rows: usize) -> anyhow::Result<f64> {
    let store = BenchStore::new(backend)
        .await
        .context("creating the benchmark's own store")?;
    let master = wz_platform::keys::MasterKey::from_hex(&wz_platform::keys::MasterKey::generate_hex()?)?;
    let face: Arc<dyn wz_platform::face::FaceEngine> = Arc::new(wz_platform::face::NoFaceEngine);
    let now = env::now();
    let platform = Platform::open(
        store.store.clone(),
        PlatformConfig::default(),
        master,
        face,
        vec![],
        now,
    )
    .await?;
    let mut people = Vec::with_capacity(rows);
    'days: for day in 0..3650u32 {
        let birth = CivilDate::new(
            1960 + u16::try_from(day / 336)?,
            1 + u8::try_from(day / 28 % 12)?,
            1 + u8::try_from(day % 28)?,
        )
        .map_err(|_| anyhow::anyhow!("date"))?;
        for seq in 1..=999u16 {
            if people.len() >= rows {
                break 'days;
            }
            let id = IdNumber::from_parts(310_104, birth, seq).map_err(|e| anyhow::anyhow!("{e}"))?;
            people.push(Person {
                sex: id.sex(),
                birth_date: birth,
                id_number: id,
                name: format!("导入{seq}"),
                ethnicity: "汉".into(),
                address: "基准路 1 号".into(),
                card_valid_from: birth,
                card_valid_to: None,
            });
        }
    }
    let start = instant();
    for chunk in people.chunks(crate::registry::DEFAULT_BATCH) {
        let batch = platform.seal_without_photos(chunk.iter().collect())?;
        platform.store_records(&batch, "bench", now).await?;
    }
    let rate = people.len() as f64 / start.elapsed().as_secs_f64();
    store.cleanup().await?;
    Ok(rate)
}
