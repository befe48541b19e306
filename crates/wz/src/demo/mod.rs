//! `wz demo`: the whole journey on this machine, on the embedded SQLite
//! default. An in-process platform serves HTTP on loopback; the wallet and
//! the relying parties talk to it through their SDKs over real HTTP, with
//! the real face engine. Every step checks that it behaved as expected; the
//! command exits non-zero at the first one that did not.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use wz_crypto::Sm2PrivateKey;
use wz_platform::{PlatformConfig, RpRegistration};
use wz_proto::api::{Attribute, CredentialStatus, IdentityItems, LivenessAction};
use wz_proto::{AuthMode, CredentialPin, IdNumber, ResultCode};
use wz_store::RpRole;
use wz_terminal::card_reader::{CardReader as _, FileCardReader};
use wz_terminal::{Extras, Terminal, Verified};
use wz_wallet::{FileKeystore, Holder, Trust, Wallet, mask_name};

use crate::citizen::action_text;
use crate::{demo_registry, env, face, registry};

mod citizen;
mod show;
use citizen::{Citizen, Found, find_citizen};
use show::{Out, describe, received};

/// Synthetic secrets of the demo citizen (never real ones).
const WALLET_PIN: &str = "demo-wallet-pin";
const CREDENTIAL_PIN: &str = "58203917";

fn mode(s: &str) -> anyhow::Result<AuthMode> {
    s.parse().map_err(|e| anyhow::anyhow!("{e}"))
}

/// A relying party the demo registers.
struct Rp<'a> {
    id: &'a str,
    name: &'a str,
    role: RpRole,
    modes: &'a [&'a str],
    attributes: Vec<Attribute>,
}

/// Registers `rp` (as the operator would) and returns its terminal SDK.
async fn register(
    platform: &wz_platform::Platform,
    dir: &Path,
    rp: Rp<'_>,
    url: &str,
    trust: &Trust,
) -> anyhow::Result<Terminal> {
    let key = Sm2PrivateKey::generate()?;
    env::write_secret(
        &dir.join(format!("{}.key.pem", rp.id)),
        key.to_pkcs8_pem()?.as_bytes(),
    )?;
    platform
        .register_rp(
            &RpRegistration {
                rp_id: rp.id.to_owned(),
                name: rp.name.to_owned(),
                role: rp.role,
                public_key: key.public_key().clone(),
                modes: rp.modes.iter().map(|m| mode(m)).collect::<anyhow::Result<_>>()?,
                attributes: rp.attributes,
                rate_per_s: 20,
            },
            "demo",
            env::now(),
        )
        .await?;
    Ok(Terminal::new(rp.id, key, url, trust, Duration::from_secs(30), 2)?)
}

/// What the demo's pages are served with.
struct Pages<'a> {
    hotel: Terminal,
    cafe: Terminal,
    wallet: PathBuf,
    guide: crate::web::PoseGuide,
    url: &'a str,
    data: &'a Path,
    citizen: &'a Citizen,
    token: &'a str,
}

/// `--keep-running`: the hotel's and the café's kiosks, the citizen's
/// wallet page (the new phone's wallet) and the operator console, each
/// URL printed. The photos a camera should see are written to
/// `DATA/camera-frames.json` for anyone (or any test) feeding a camera.
async fn serve_pages(
    p: Pages<'_>,
    out: &mut Out<'_, impl Write>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let presets = |name| wz_terminal::presets::preset(name).context("preset missing");
    let hotel =
        crate::kiosk::Kiosk::with_guide(p.hotel, presets("hotel")?, mode("0x06")?, Some(p.guide.clone()));
    let cafe = crate::kiosk::Kiosk::with_guide(p.cafe, presets("internet-cafe")?, mode("0x04")?, None);
    let wallet = crate::wallet_web::WalletService::new(p.wallet, None, Some(p.guide));
    let mut tasks = Vec::new();
    let mut bind = async |router: axum::Router| -> anyhow::Result<String> {
        let listener = crate::web::bind_loopback("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
        Ok(format!("http://{addr}/"))
    };
    let hotel_url = bind(crate::kiosk::router(Arc::new(hotel))).await?;
    let cafe_url = bind(crate::kiosk::router(Arc::new(cafe))).await?;
    let wallet_url = bind(crate::wallet_web::router(Arc::new(wallet))).await?;
    let frames = &p.citizen.frames;
    std::fs::write(
        p.data.join("camera-frames.json"),
        serde_json::to_vec_pretty(&serde_json::json!({
            "frontal": frames.frontal, "turn_left": frames.left, "turn_right": frames.right,
        }))?,
    )?;
    out.step("Pages for people (open them in a browser on this machine)")?;
    out.line(&format!(
        "hotel kiosk          {hotel_url}   (QR + live face; shows name and ID number)"
    ))?;
    out.line(&format!(
        "internet café kiosk  {cafe_url}   (QR only; shows adult + pseudonym)"
    ))?;
    out.line(&format!(
        "citizen wallet       {wallet_url}   (wallet PIN: {WALLET_PIN})"
    ))?;
    out.line(&format!(
        "operator console     {}/console   (self-signed certificate; admin token: {})",
        p.url, p.token
    ))?;
    out.line(&format!(
        "a camera should see the wallet's QR, then {} (facing), {} (turned left), {} (turned right)",
        frames.frontal.display(),
        frames.left.display(),
        frames.right.display()
    ))?;
    Ok(tasks)
}

/// Upgraded enrolment at the police hall's terminal: the wallet proves its
/// device key for `ch`; the terminal sends the card, the frames and the new
/// credential PIN; the wallet keeps what is issued.
async fn enrol_at_hall(
    police: &Terminal,
    wallet: &mut Wallet<FileKeystore>,
    ch: &wz_proto::api::Challenge,
    card: &wz_proto::SignedCard,
    frames: Vec<Vec<u8>>,
) -> anyhow::Result<()> {
    let (device_pub, pop) = wallet.proof_of_possession(ch)?;
    let pin = CredentialPin::parse_new(CREDENTIAL_PIN)?;
    let resp = police
        .enrol_upgraded(ch, card, frames, &pin, device_pub, pop)
        .await?;
    let holder = Holder {
        masked_name: mask_name(&card.data.name),
        masked_id_number: card.data.id_number.masked(),
    };
    ensure!(
        wallet.accept(&resp, holder).await? == wz_proto::Level::Upgraded,
        "expected an upgraded credential"
    );
    Ok(())
}

async fn face_check(
    at: &Terminal,
    citizen: &Citizen,
    qr: &str,
    out: &mut Out<'_, impl Write>,
) -> anyhow::Result<Verified> {
    let ch = at.challenge(wz_proto::api::ChallengePurpose::Verify).await?;
    out.line(&format!("liveness challenge: {}", action_text(&ch.actions)))?;
    let extras = Extras {
        face_frames: citizen.frames(&ch.actions)?,
        challenge_id: Some(ch.challenge_id),
        ..Extras::default()
    };
    Ok(at.verify(mode("0x06")?, Some(qr), extras).await?)
}

/// Runs the demo into `data` (wiped first); `faces` as for `registry demo`.
pub async fn run(
    data: &Path,
    faces: Option<PathBuf>,
    keep_running: bool,
    w: &mut impl Write,
) -> anyhow::Result<()> {
    let mut out = Out { w, step: 0 };
    writeln!(out.w, "wz demo — 网证: I am me, it is me doing this, I am alive")?;
    let faces = match faces.or_else(demo_registry::default_faces_dir) {
        Some(dir) => dir,
        None => crate::demo_photos::ensure(&mut *out.w)?,
    };
    if data.exists() {
        std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
    }
    std::fs::create_dir_all(data)?;

    // ---------------------------------------------------------- platform
    out.step("Platform: embedded, SQLite, real face engine")?;
    let authority = Sm2PrivateKey::generate()?;
    let authority_pub = data.join("card-authority.pub.pem");
    std::fs::write(&authority_pub, authority.public_key().to_public_key_pem()?)?;
    let admin_token = wz_platform::keys::MasterKey::generate_hex()?;
    let mut config = PlatformConfig {
        database_url: format!("sqlite://{}", data.join("platform.db").display()),
        listen: "127.0.0.1:0".to_owned(),
        card_authority_keys: vec![authority_pub.display().to_string()],
        // The demo's frames are photos of head turns; none shows an open mouth.
        liveness_actions: Some(vec![LivenessAction::TurnLeft, LivenessAction::TurnRight]),
        // The operator console (kept running with --keep-running) logs in with
        // this token and imports from the demo's registry folder.
        admin_token: Some(wz_platform::AdminToken::from(admin_token.as_str())),
        import_dir: Some(data.join("registry").display().to_string()),
        ..env::load_config(None)?
    };
    crate::models::ensure(&face::models_dir(&config), &mut *out.w)?;
    // One engine for the platform and for picking the citizen's frames.
    let engine = face::engine(&config)?;
    let found = find_citizen(&engine, &faces)?;
    if !found.can_turn {
        config.demo_liveness_waived = true;
        out.line(&format!(
            "⚠ the photos in {} show no turned head, so no liveness challenge can be answered with them:",
            faces.display()
        ))?;
        out.line("  this demo platform asks for no liveness action and checks the face match only.")?;
        out.line("  A real deployment always asks (pass --faces DIR with head-turn photos to see it here).")?;
    }
    let platform = Arc::new(env::open_platform(&config, env::Faces::Loaded(Box::new(engine.clone()))).await?);
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    let url = format!("https://{}", listener.local_addr()?);
    // HTTPS as `wz serve` does it: a self-signed certificate in the data
    // folder, which the wallet and the terminals pin.
    let identity = env::tls_identity(&config)?.context("the demo runs over TLS")?;
    let trust = Trust::PinnedSha256(identity.fingerprint());
    let app = wz_platform::tls::with_fingerprint(wz_platform::http::router(Arc::clone(&platform)), &identity);
    let tls_config = identity.server_config(config.tls_suites)?;
    let server = tokio::spawn(wz_platform::tls::serve(
        listener,
        app,
        tls_config,
        std::future::pending::<()>(),
    ));
    out.ok(&format!(
        "listening on {url} (TLS 1.3, self-signed certificate pinned by SHA-256 {}…); database {}",
        identity.fingerprint_hex().get(..16).unwrap_or_default(),
        data.join("platform.db").display()
    ))?;
    let (face_model, face_threshold) = crate::face::describe(&config)?;
    out.line(&format!(
        "face model {face_model} at threshold {face_threshold:.4} (FAR 1e-4 on the LFW development set)"
    ))?;

    // ---------------------------------------------------------- registry
    out.step("Registry: synthetic people, real face photos (referenced in place)")?;
    let Found { citizen, photos, .. } = found;
    let mut people = vec![photos];
    people.extend(
        demo_registry::identities(&faces)?
            .into_iter()
            .filter(|imgs| !imgs.contains(&citizen.registry_photo))
            .take(5),
    );
    let reg_dir = data.join("registry");
    demo_registry::write_rows(&reg_dir, &faces, &people, 2026)?;
    let report = registry::import(
        &platform,
        &reg_dir.join("registry.csv"),
        env::now(),
        false,
        registry::DEFAULT_BATCH,
    )
    .await?;
    ensure!(
        report.inserted >= 1 && report.rejected < report.rows,
        "registry import failed"
    );
    out.ok(&format!(
        "{} people imported ({} rejected), photos sealed with SM4-GCM, face templates stored",
        report.inserted, report.rejected
    ))?;
    let first_row = std::fs::read_to_string(reg_dir.join("registry.csv"))?
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next().map(str::to_owned))
        .context("registry has no rows")?;
    let id = IdNumber::parse(&first_row).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (person, photo) = platform
        .person(&id)
        .await?
        .context("citizen missing from the registry")?;
    out.line(&format!(
        "citizen: {} {} (synthetic; photo {})",
        mask_name(&person.name),
        id.masked(),
        citizen.registry_photo.display()
    ))?;

    // ---------------------------------------------------------- RPs
    out.step("Relying parties register (operator)")?;
    let hotel = register(
        &platform,
        data,
        Rp {
            id: "hotel-demo",
            name: "如家酒店 (demo hotel)",
            role: RpRole::Verifier,
            modes: &["0x06"],
            attributes: vec![Attribute::Name, Attribute::IdNumber],
        },
        &url,
        &trust,
    )
    .await?;
    let cafe = register(
        &platform,
        data,
        Rp {
            id: "cafe-demo",
            name: "网吧 (demo internet café)",
            role: RpRole::Verifier,
            modes: &["0x04"],
            attributes: vec![Attribute::AgeOver18],
        },
        &url,
        &trust,
    )
    .await?;
    let police = register(
        &platform,
        data,
        Rp {
            id: "police-hall-demo",
            name: "派出所 (demo trusted terminal)",
            role: RpRole::TrustedTerminal,
            modes: &["0x03"],
            attributes: vec![],
        },
        &url,
        &trust,
    )
    .await?;
    out.ok("hotel: QR + face (0x06) → name, ID number")?;
    out.ok("internet café: QR only (0x04) → adult flag + pseudonym, no personal data")?;
    out.ok("police hall: trusted terminal for upgraded enrolment")?;

    // ---------------------------------------------------------- wallet + light enrolment
    out.step("Wallet: created on the phone, sealed under the wallet PIN")?;
    let phone1 = data.join("phone-1/wallet.json");
    let mut wallet = Wallet::init(FileKeystore::new(&phone1), WALLET_PIN, &url, &trust)?;
    out.ok(&format!("device SM2 key made; keystore {}", phone1.display()))?;

    out.step("Lightweight enrolment online: four items + live face")?;
    let ch = wallet
        .challenge(wz_proto::api::ChallengePurpose::EnrolLight)
        .await?;
    out.line(&format!("liveness challenge: {}", action_text(&ch.actions)))?;
    let items = IdentityItems {
        name: person.name.clone(),
        id_number: person.id_number.clone(),
        card_valid_from: Some(person.card_valid_from),
        card_valid_to: person.card_valid_to,
    };
    let level = wallet
        .enrol_light(&ch, &items, citizen.frames(&ch.actions)?)
        .await?;
    ensure!(
        level == wz_proto::Level::Lightweight,
        "expected a lightweight credential"
    );
    out.ok("lightweight credential issued and bound to this phone's key")?;

    // ---------------------------------------------------------- upgraded
    out.step("Upgrade at the police hall: card chip + live face + 8-digit credential PIN")?;
    let card_path = data.join("citizen-card.wzc");
    let card = person.to_card(photo.unwrap_or_default()).sign(&authority)?;
    env::write_secret(&card_path, &card.encode()?)?;
    let card = FileCardReader::new(&card_path).read_card()?;
    let ch = police
        .challenge(wz_proto::api::ChallengePurpose::EnrolUpgraded)
        .await?;
    out.line(&format!(
        "card read ({}), liveness challenge: {}",
        card_path.display(),
        action_text(&ch.actions)
    ))?;
    enrol_at_hall(&police, &mut wallet, &ch, &card, citizen.frames(&ch.actions)?).await?;
    let s = wallet.summary()?;
    out.ok(&format!(
        "upgraded credential for {} {}; the lightweight one is superseded",
        s.holder.as_ref().map_or("", |h| h.masked_name.as_str()),
        s.holder.as_ref().map_or("", |h| h.masked_id_number.as_str())
    ))?;

    // ---------------------------------------------------------- QR
    out.step("The wallet shows its QR (encrypted, time-stamped, new every 60 s)")?;
    let qr = wallet.qr().await?;
    write!(
        out.w,
        "{}",
        wz_wallet::render::to_terminal(&wz_wallet::render::symbol(&qr)?)
    )?;
    out.line(&format!(
        "{} characters, no personal data: {}…",
        qr.len(),
        qr.get(..40).unwrap_or("")
    ))?;

    // ---------------------------------------------------------- hotel
    out.step("Hotel check-in: scan the QR + live face (0x06)")?;
    let at_hotel = face_check(&hotel, &citizen, &qr, &mut out).await?;
    out.line(&describe(&at_hotel))?;
    ensure!(at_hotel.passed(), "the hotel check should pass");
    ensure!(
        at_hotel.attributes.as_ref().and_then(|a| a.name.as_ref()) == Some(&person.name),
        "the hotel should receive the name"
    );
    for l in received(&at_hotel) {
        out.line(&format!("hotel received: {l}"))?;
    }
    out.ok("passed; the hotel holds only what its registration allows")?;

    // ---------------------------------------------------------- café
    out.step("Internet café login: QR only (0x04)")?;
    let qr2 = wallet.qr().await?;
    let at_cafe = cafe.verify(mode("0x04")?, Some(&qr2), Extras::default()).await?;
    out.line(&describe(&at_cafe))?;
    ensure!(at_cafe.passed(), "the café check should pass");
    let a = at_cafe.attributes.clone().unwrap_or_default();
    ensure!(
        a.name.is_none() && a.id_number.is_none() && a.age_over_18.is_some(),
        "the café must see no name or ID number"
    );
    ensure!(
        at_cafe.verdict.pseudonym != at_hotel.verdict.pseudonym,
        "pseudonyms must differ per RP"
    );
    for l in received(&at_cafe) {
        out.line(&format!("café received:  {l}"))?;
    }
    out.ok("passed; no name, no ID number; a pseudonym unlinkable to the hotel's")?;

    // ---------------------------------------------------------- replay
    out.step("A replayed QR (the café's, sent again)")?;
    let replay = cafe.verify(mode("0x04")?, Some(&qr2), Extras::default()).await?;
    out.line(&describe(&replay))?;
    ensure!(
        replay.verdict.result == ResultCode::QrReplayed,
        "a replay must be refused"
    );
    out.ok("refused: QrReplayed")?;

    // ---------------------------------------------------------- lost phone
    out.step("Lost phone: the citizen enrols again on a new phone")?;
    let old_qr = wallet.qr().await?;
    let phone2 = data.join("phone-2/wallet.json");
    let mut wallet2 = Wallet::init(FileKeystore::new(&phone2), WALLET_PIN, &url, &trust)?;
    // Online enrolment never replaces an upgraded credential (else four
    // items and a photo would take over someone's credential remotely).
    let ch = wallet2
        .challenge(wz_proto::api::ChallengePurpose::EnrolLight)
        .await?;
    match wallet2
        .enrol_light(&ch, &items, citizen.frames(&ch.actions)?)
        .await
    {
        Err(wz_wallet::WalletError::Client(e)) if e.code() == Some(ResultCode::UpgradedCredentialHeld) => {
            out.ok("online re-enrolment refused: an upgraded credential is held (UpgradedCredentialHeld)")?;
        }
        Ok(_) => bail!("online enrolment must not replace an upgraded credential"),
        Err(e) => return Err(e.into()),
    }
    let ch = police
        .challenge(wz_proto::api::ChallengePurpose::EnrolUpgraded)
        .await?;
    enrol_at_hall(&police, &mut wallet2, &ch, &card, citizen.frames(&ch.actions)?).await?;
    out.ok("at the police hall (card + face + PIN) the new phone gets an upgraded credential")?;
    let stale = cafe
        .verify(mode("0x04")?, Some(&old_qr), Extras::default())
        .await?;
    out.line(&format!("old phone's QR at the café: {}", describe(&stale)))?;
    ensure!(
        stale.verdict.result == ResultCode::CredentialSuperseded,
        "the old phone's QR must be refused as superseded"
    );
    let sync = wallet.sync().await?;
    ensure!(
        sync.wiped && sync.status == CredentialStatus::Superseded,
        "the old wallet must wipe"
    );
    ensure!(!wallet.is_enrolled());
    out.ok("old phone synced: credential superseded and wiped from it")?;

    // ---------------------------------------------------------- suspend / resume
    out.step("Phone lent out: the citizen suspends, then resumes with a live face + credential PIN")?;
    ensure!(wallet2.suspend().await? == CredentialStatus::Suspended);
    let qr = wallet2.qr().await?;
    let v = cafe.verify(mode("0x04")?, Some(&qr), Extras::default()).await?;
    ensure!(
        v.verdict.result == ResultCode::CredentialSuspended,
        "a suspended credential must be refused"
    );
    out.ok("suspended: the café's scan is refused (CredentialSuspended)")?;
    let ch = wallet2.challenge(wz_proto::api::ChallengePurpose::Resume).await?;
    let status = wallet2
        .resume(
            &ch,
            citizen.frames(&ch.actions)?,
            Some(&CredentialPin::parse(CREDENTIAL_PIN)?),
        )
        .await?;
    ensure!(status == CredentialStatus::Active, "resuming must reactivate");
    let qr = wallet2.qr().await?;
    let v = cafe.verify(mode("0x04")?, Some(&qr), Extras::default()).await?;
    ensure!(
        v.verdict.result == ResultCode::Pass,
        "a resumed credential must pass"
    );
    out.ok("resumed: the café's scan passes again")?;

    // ---------------------------------------------------------- history
    out.step("Who verified me (the citizen's history, fetched device-signed)")?;
    let history = wallet2.history(20).await?;
    ensure!(history.len() >= 4, "history should list the verifications");
    for h in &history {
        out.line(&format!(
            "{:<32} mode {:<6} {}",
            h.rp_name,
            h.mode.to_string(),
            h.result.name()
        ))?;
    }
    let audit = platform.store().verify_audit().await?;
    ensure!(audit.first_break.is_none(), "the audit chain must be intact");
    out.ok(&format!(
        "{} verifications listed; operator audit chain intact ({} entries)",
        history.len(),
        audit.entries
    ))?;

    writeln!(out.w, "\nAll {} steps behaved as expected.", out.step)?;
    if keep_running {
        let pages = serve_pages(
            Pages {
                hotel,
                cafe,
                wallet: phone2,
                guide: crate::web::PoseGuide::from_engine(engine),
                url: &url,
                data,
                citizen: &citizen,
                token: admin_token.as_str(),
            },
            &mut out,
        )
        .await?;
        writeln!(
            out.w,
            "Platform still running at {url} (Ctrl-C to stop); data in {}",
            data.display()
        )?;
        out.w.flush()?;
        let _ = tokio::signal::ctrl_c().await;
        pages.iter().for_each(tokio::task::JoinHandle::abort);
    }
    server.abort();
    platform.store().close().await;
    Ok(())
}
