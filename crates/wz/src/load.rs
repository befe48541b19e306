//! `wz bench load`: steady verification traffic from N relying parties ×
//! M wallets with real QR codes against a running platform (a node, or the
//! haproxy front of `scripts/cluster.sh`), bounded in time and count;
//! prints throughput, p50/p99/p999, errors by result code, the outage
//! window, and the crypto floor measured in the same run. Every verdict
//! received as pass is written to a JSON Lines file so that
//! `wz bench check` can prove afterwards that each is in the database.
//!
//! The RPs and citizens are seeded through the platform library on the
//! configured database (the same master key as the nodes). Traffic goes to
//! loopback only.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use wz_crypto::Sm2PrivateKey;
use wz_platform::Platform;
use wz_platform::registry::Person;
use wz_proto::api::VerifyRequest;
use wz_proto::{AuthMode, CivilDate, CredentialId, IdNumber, Level, QrBody, RequestAuth, RequestTarget};

use crate::env;

/// What `wz bench load` is asked to do.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Platform base URL (loopback only).
    pub target: String,
    pub relying_parties: usize,
    pub wallets: usize,
    pub concurrency: usize,
    /// Requests per second in all (0: as fast as the platform answers).
    pub rate: f64,
    pub duration: Duration,
    pub max_requests: usize,
    /// Where each pass verdict is written (JSON Lines).
    pub verdicts: Option<PathBuf>,
    /// Share of requests (0..=1) that are QR + live face (mode 0x06): a
    /// platform challenge, then frames answering it.
    pub face_share: f64,
    /// Photos for those: one person's set per wallet, in turn (registry
    /// photo imported with the citizen; the live frames are other photos).
    pub faces: Vec<wz_face::pad::LiveSet>,
}

#[allow(clippy::disallowed_methods)] // load timing is the edge
fn instant() -> Instant {
    Instant::now()
}

pub(crate) struct Seeded {
    pub(crate) rps: Vec<(String, Sm2PrivateKey)>,
    pub(crate) wallets: Vec<(Sm2PrivateKey, CredentialId)>,
    pub(crate) enc: wz_crypto::Sm2PublicKey,
}

/// Registers `rps` relying parties (QR only, and QR + face where `faces`
/// are given) and issues `wallets` lightweight credentials to synthetic
/// citizens (born on a day picked per run, so runs do not collide); with
/// `faces`, citizen `i` has the registry photo of `faces[i % len]`.
pub(crate) async fn seed(
    platform: &Platform,
    rps: usize,
    wallets: usize,
    faces: &[wz_face::pad::LiveSet],
) -> anyhow::Result<Seeded> {
    ensure!((1..=999).contains(&wallets), "--wallets must be 1..=999");
    ensure!((1..=100).contains(&rps), "--relying-parties must be 1..=100");
    let now = env::now();
    let [a, b, c] = wz_crypto::random_array::<3>()?;
    let birth = CivilDate::new(1950 + u16::from(a % 50), 1 + b % 12, 1 + c % 28)
        .map_err(|_| anyhow::anyhow!("birth date"))?;
    let mut out = Seeded {
        rps: Vec::with_capacity(rps),
        wallets: Vec::with_capacity(wallets),
        enc: platform.keys().encryption.current().public_key().clone(),
    };
    for i in 0..rps {
        let key = Sm2PrivateKey::generate()?;
        let rp_id = format!("load-{}-{i}", hex::encode(wz_crypto::random_array::<4>()?));
        platform
            .register_rp(
                &wz_platform::RpRegistration {
                    rp_id: rp_id.clone(),
                    name: format!("Load test RP {i}"),
                    role: wz_store::RpRole::Verifier,
                    public_key: key.public_key().clone(),
                    modes: if faces.is_empty() {
                        vec![AuthMode::QR]
                    } else {
                        vec![AuthMode::QR, QR_FACE]
                    },
                    attributes: vec![],
                    rate_per_s: 1_000_000,
                },
                "bench-load",
                now,
            )
            .await?;
        out.rps.push((rp_id, key));
    }
    let mut people = Vec::with_capacity(wallets);
    for i in 0..wallets {
        let seq = u16::try_from(i + 1)?;
        let id = IdNumber::from_parts(110_105, birth, seq).map_err(|e| anyhow::anyhow!("{e}"))?;
        people.push((
            Person {
                sex: id.sex(),
                birth_date: birth,
                id_number: id,
                name: format!("负载{i}"),
                ethnicity: "汉".into(),
                address: "负载路".into(),
                card_valid_from: birth,
                card_valid_to: None,
            },
            faces
                .get(i % faces.len().max(1))
                .map(|f| f.registry_photo.clone()),
        ));
    }
    platform.import_people(&people, "bench-load", now).await?;
    for (person, _) in &people {
        let record = platform
            .store()
            .registry_by_index(&wz_platform::registry::blind_index(
                &platform.keys(),
                &person.id_number,
            ))
            .await?
            .context("seeded citizen missing")?;
        let device = Sm2PrivateKey::generate()?;
        let resp = platform
            .issue(&record, Level::Lightweight, device.public_key(), None, now)
            .await?;
        let cert = wz_proto::CredentialCert::decode(&resp.credential.0)?;
        out.wallets.push((device, cert.body.cred_id));
    }
    Ok(out)
}

/// One request ready to send (and to resend unchanged on a retry).
pub(crate) struct Prepared {
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(&'static str, String)>,
    cred: CredentialId,
    counter: u32,
    face: bool,
}

/// QR + live face, as a hotel counter asks.
const QR_FACE: AuthMode = AuthMode::QR.with(AuthMode::FACE);

/// A verification request: a fresh QR of `wallet` with `counter`, sealed to
/// the platform, and with `face` (a challenge id and the frames answering
/// it) QR + face; in a body signed by `rp`.
pub(crate) fn prepare(
    rp: &(String, Sm2PrivateKey),
    wallet: &(Sm2PrivateKey, CredentialId),
    enc: &wz_crypto::Sm2PublicKey,
    counter: u32,
    face: Option<(String, Vec<Vec<u8>>)>,
) -> anyhow::Result<Prepared> {
    let now = env::now();
    let qr = QrBody {
        cred_id: wallet.1,
        issued_at: now,
        counter,
        nonce: wz_crypto::random_array()?,
    }
    .seal(&wallet.0, enc)?;
    let with_face = face.is_some();
    let (challenge_id, frames) = face.unzip();
    let body = serde_json::to_vec(&VerifyRequest {
        challenge_id,
        mode: if with_face { QR_FACE } else { AuthMode::QR },
        qr: Some(qr),
        face_frames: frames
            .unwrap_or_default()
            .into_iter()
            .map(wz_proto::api::Bytes)
            .collect(),
        pin_block: None,
        items: None,
        card_data: None,
    })?;
    let auth = RequestAuth::sign(
        &rp.1,
        &rp.0,
        &RequestTarget {
            method: "POST",
            path: wz_proto::routes::VERIFY,
            body: &body,
        },
        now,
        &wz_proto::signed_http::new_nonce()?,
    )?;
    Ok(Prepared {
        body,
        headers: auth.to_headers().to_vec(),
        cred: wallet.1,
        counter,
        face: with_face,
    })
}

/// A `verify` challenge from the platform and the frames of `set` that
/// answer it; `Err(code)` names what went wrong, as a result.
async fn face_for(
    client: &reqwest::Client,
    base: &str,
    set: &wz_face::pad::LiveSet,
) -> Result<(String, Vec<Vec<u8>>), String> {
    let resp = client
        .post(format!("{base}{}", wz_proto::routes::CHALLENGES))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&wz_proto::api::ChallengeRequest {
                purpose: wz_proto::api::ChallengePurpose::Verify,
            })
            .map_err(|_| "challenge_encoding".to_owned())?,
        )
        .send()
        .await
        .map_err(|_| "challenge_transport".to_owned())?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|_| "challenge_transport".to_owned())?;
    let Ok(ch) = serde_json::from_slice::<wz_proto::api::Challenge>(&bytes) else {
        return Err(match serde_json::from_slice::<wz_proto::api::Problem>(&bytes) {
            Ok(p) => format!("challenge_{}", p.code.name()),
            Err(_) => format!("challenge_http_{}", status.as_u16()),
        });
    };
    let frames = set
        .frames_for(&ch.actions)
        .ok_or_else(|| "challenge_not_a_head_turn".to_owned())?;
    Ok((ch.challenge_id, frames))
}

/// How a `/v1/verify` reply ended: the verdict's result code and serial,
/// or the problem's code, or `http_NNN` for anything else.
pub(crate) fn verdict_outcome(status: u16, bytes: &[u8]) -> (String, Option<String>) {
    match serde_json::from_slice::<wz_proto::api::VerifyVerdict>(bytes) {
        Ok(v) if (200..300).contains(&status) => (v.result.name().to_owned(), Some(v.serial)),
        _ => match serde_json::from_slice::<wz_proto::api::Problem>(bytes) {
            Ok(problem) => (problem.code.name().to_owned(), None),
            Err(_) => (format!("http_{status}"), None),
        },
    }
}

/// How one request ended.
struct Outcome {
    /// Seconds since the start when it was sent.
    at: f64,
    latency: Duration,
    /// Result code name, or `transport` when no verdict came back.
    result: String,
    serial: Option<String>,
    cred: CredentialId,
    counter: u32,
    /// QR + face (else QR only).
    face: bool,
}

const TRIES: u32 = 4;

/// Sends `p`, resending the identical signed request after a transport
/// failure or a 5xx (the platform answers a resent request with the verdict
/// it already gave, so a retry never verifies twice).
async fn send(client: &reqwest::Client, url: &str, p: &Prepared, start: Instant) -> Outcome {
    let at = start.elapsed().as_secs_f64();
    let begun = instant();
    let mut result = "transport".to_owned();
    let mut serial = None;
    for attempt in 0..TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .body(p.body.clone());
        for (k, v) in &p.headers {
            req = req.header(*k, v);
        }
        let Ok(resp) = req.send().await else { continue };
        let status = resp.status();
        let Ok(bytes) = resp.bytes().await else { continue };
        if status.is_server_error() {
            result = format!("http_{}", status.as_u16());
            continue;
        }
        (result, serial) = verdict_outcome(status.as_u16(), &bytes);
        break;
    }
    Outcome {
        at,
        latency: begun.elapsed(),
        result,
        serial,
        cred: p.cred,
        counter: p.counter,
        face: p.face,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn check_loopback(target: &str) -> anyhow::Result<String> {
    let url = target.trim_end_matches('/');
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or_default();
    ensure!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "--target must be on loopback (load is sent to 127.0.0.1 only)"
    );
    Ok(url.to_owned())
}

/// Runs the load; `platform` is opened on the same database as the target.
pub async fn run(platform: &Platform, plan: &LoadPlan, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let base = check_loopback(&plan.target)?;
    ensure!(
        (1..=512).contains(&plan.concurrency) && plan.concurrency <= plan.wallets,
        "--concurrency must be 1..=512 and at most --wallets"
    );
    ensure!(
        (1..=2_000_000).contains(&plan.max_requests),
        "--max-requests must be 1..=2000000"
    );
    let crate::bench::CryptoFloor {
        cores,
        all_cores: floor,
        ..
    } = crate::bench::crypto_floor(300)?;
    writeln!(
        out,
        "crypto floor (this machine, now): {floor:.0} verifications/s on {cores} cores"
    )?;
    ensure!(
        (0.0..=1.0).contains(&plan.face_share),
        "--face-share must be between 0 and 1"
    );
    ensure!(
        plan.face_share == 0.0 || !plan.faces.is_empty(),
        "--face-share needs --faces DIR with people photographed frontal and turned both ways"
    );
    let faces: &[wz_face::pad::LiveSet] = if plan.face_share > 0.0 { &plan.faces } else { &[] };
    let seeded = Arc::new(seed(platform, plan.relying_parties, plan.wallets, faces).await?);
    let faces = Arc::new(faces.to_vec());
    writeln!(
        out,
        "seeded {} relying parties × {} wallets{}; sending to {base} with {} clients{}",
        seeded.rps.len(),
        seeded.wallets.len(),
        if faces.is_empty() {
            String::new()
        } else {
            format!(
                " ({} people's photos; {:.0} % of requests QR + live face)",
                faces.len(),
                plan.face_share * 100.0
            )
        },
        plan.concurrency,
        if plan.rate > 0.0 {
            format!(" at {:.0}/s", plan.rate)
        } else {
            " as fast as answered".to_owned()
        }
    )?;
    out.flush()?;
    wz_client::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(plan.concurrency)
        .build()?;
    let url = format!("{base}{}", wz_proto::routes::VERIFY);
    let start = instant();
    let per_client_budget = plan.max_requests.div_ceil(plan.concurrency);
    let interval = (plan.rate > 0.0).then(|| Duration::from_secs_f64(plan.concurrency as f64 / plan.rate));
    let mut tasks = Vec::new();
    for c in 0..plan.concurrency {
        let (client, url, seeded, duration, faces, base) = (
            client.clone(),
            url.clone(),
            Arc::clone(&seeded),
            plan.duration,
            Arc::clone(&faces),
            base.clone(),
        );
        let share = plan.face_share;
        let step = plan.concurrency;
        tasks.push(tokio::spawn(async move {
            // This client owns wallets c, c+C, …: each wallet's counters go out in order.
            let mine: Vec<usize> = (c..seeded.wallets.len()).step_by(step).collect();
            let mut counters: HashMap<usize, u32> = HashMap::new();
            let mut results = Vec::new();
            for k in 0..per_client_budget {
                if start.elapsed() >= duration {
                    break;
                }
                if let Some(iv) = interval {
                    let due = iv.mul_f64(k as f64);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                let w = mine.get(k % mine.len().max(1)).copied().unwrap_or(c);
                let counter = counters.entry(w).or_insert(0);
                *counter += 1;
                let rp = seeded.rps.get((c + k) % seeded.rps.len()).context("no RP")?;
                let wallet = seeded.wallets.get(w).context("no wallet")?;
                // Request k is a face request when the running share crosses a whole number.
                let face_turn = (((c * per_client_budget + k + 1) as f64) * share).floor()
                    > (((c * per_client_budget + k) as f64) * share).floor();
                let face = match faces.get(w % faces.len().max(1)) {
                    Some(set) if face_turn => {
                        let at = start.elapsed().as_secs_f64();
                        match face_for(&client, &base, set).await {
                            Ok(f) => Some(f),
                            Err(result) => {
                                // The counter was not used: the next QR reuses it.
                                *counter -= 1;
                                results.push(Outcome {
                                    at,
                                    latency: Duration::ZERO,
                                    result,
                                    serial: None,
                                    cred: wallet.1,
                                    counter: 0,
                                    face: true,
                                });
                                continue;
                            }
                        }
                    }
                    _ => None,
                };
                let p = prepare(rp, wallet, &seeded.enc, *counter, face)?;
                results.push(send(&client, &url, &p, start).await);
            }
            anyhow::Ok(results)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    report(&all, elapsed, floor, plan, out)
}

fn report(
    all: &[Outcome],
    elapsed: f64,
    floor: f64,
    plan: &LoadPlan,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let mut lat: Vec<Duration> = all.iter().map(|o| o.latency).collect();
    lat.sort_unstable();
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for o in all {
        *by_code.entry(o.result.as_str()).or_default() += 1;
    }
    let passed = by_code.get("pass").copied().unwrap_or(0);
    let rate = all.len() as f64 / elapsed.max(1e-9);
    writeln!(
        out,
        "{} requests in {elapsed:.1} s: {rate:.0}/s ({:.2} of the floor); p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms",
        all.len(),
        rate / floor,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999)
    )?;
    for (code, n) in &by_code {
        writeln!(out, "  {code:<24} {n}")?;
    }
    // With a face share, each kind on its own line.
    let kinds: &[(&str, bool)] = if all.iter().any(|o| o.face) {
        &[("QR only", false), ("QR + live face", true)]
    } else {
        &[]
    };
    for (kind, face) in kinds.iter().copied() {
        let mut l: Vec<Duration> = all.iter().filter(|o| o.face == face).map(|o| o.latency).collect();
        l.sort_unstable();
        let passed = all
            .iter()
            .filter(|o| o.face == face && o.result == "pass")
            .count();
        writeln!(
            out,
            "  {kind}: {} requests, {passed} passed; p50 {:.1} ms, p99 {:.1} ms",
            l.len(),
            percentile(&l, 0.5),
            percentile(&l, 0.99)
        )?;
    }
    let failed: Vec<&Outcome> = all.iter().filter(|o| o.result != "pass").collect();
    if let (Some(first), Some(last)) = (
        failed.iter().map(|o| o.at).reduce(f64::min),
        failed
            .iter()
            .map(|o| o.at + o.latency.as_secs_f64())
            .reduce(f64::max),
    ) {
        writeln!(
            out,
            "not passed: {} requests, between {first:.1} s and {last:.1} s (outage window {:.1} s)",
            failed.len(),
            last - first
        )?;
        let mut by_second: BTreeMap<u64, usize> = BTreeMap::new();
        for o in &failed {
            *by_second.entry(o.at as u64).or_default() += 1;
        }
        let line: Vec<String> = by_second.iter().map(|(s, n)| format!("{s}s:{n}")).collect();
        writeln!(out, "not passed by second sent: {}", line.join(" "))?;
    } else {
        writeln!(out, "not passed: none")?;
    }
    if let Some(path) = &plan.verdicts {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for o in all.iter().filter(|o| o.result == "pass") {
            let line = PassLine {
                serial: o.serial.clone().unwrap_or_default(),
                cred_id: o.cred.to_string(),
                counter: o.counter,
            };
            writeln!(f, "{}", serde_json::to_string(&line)?)?;
        }
        f.flush()?;
        writeln!(out, "{passed} pass verdicts written to {}", path.display())?;
    }
    Ok(())
}

/// One line of the verdicts file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PassLine {
    serial: String,
    cred_id: String,
    counter: u32,
}

/// `wz bench check`: every pass verdict in `verdicts` is in the database as
/// a pass with its citizen (so in their history), and no QR (credential,
/// counter) was accepted twice.
pub async fn check(
    platform: &Platform,
    verdicts: &Path,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(verdicts).with_context(|| format!("reading {}", verdicts.display()))?;
    let mut seen: HashMap<(String, u64), String> = HashMap::new();
    let (mut checked, mut missing, mut twice) = (0usize, 0usize, 0usize);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: PassLine = serde_json::from_str(line).context("a line of the verdicts file")?;
        let serial = v.serial;
        if let Some(other) = seen.insert((v.cred_id, u64::from(v.counter)), serial.clone())
            && other != serial
        {
            twice += 1;
        }
        match platform.store().verification_by_serial(&serial).await? {
            Some((Some(_citizen), 0)) => {}
            _ => missing += 1,
        }
        checked += 1;
    }
    writeln!(
        out,
        "{checked} pass verdicts checked: {missing} missing from the database or its history, {twice} QR codes accepted twice"
    )?;
    if missing > 0 || twice > 0 {
        bail!("verdict invariants broken");
    }
    Ok(())
}
