//! `wz terminal …`: a relying party's or trusted terminal's side, thin over
//! `wz-terminal`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use wz_crypto::Sm2PrivateKey;
use wz_proto::{AuthMode, CredentialPin};
use wz_terminal::card_reader::{CardReader as _, FileCardReader};
use wz_terminal::{Extras, Terminal, Verified};

use std::time::Duration;
use wz_wallet::{Holder, mask_name};

use crate::citizen::{LiveFrames, TrustArgs, VerifyFrames, action_text, level_name, open_wallet, secret};

#[derive(Debug, Args)]
pub struct TerminalArgs {
    /// This RP's id as registered.
    #[arg(long, global = true)]
    rp_id: Option<String>,
    /// This RP's SM2 private key (PEM).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// Platform URL.
    #[arg(long, global = true, default_value = "https://127.0.0.1:8680")]
    platform: String,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(subcommand)]
    command: TerminalCommand,
}

#[derive(Debug, Subcommand)]
pub enum TerminalCommand {
    /// Read the QR code in an image (a camera frame or a screenshot) and print its text.
    Scan { image: PathBuf },
    /// Verify a citizen and print the checked verdict and what this RP received.
    Verify {
        /// Auth mode, e.g. 0x04 or 0x06.
        #[arg(long)]
        mode: String,
        /// The QR text …
        #[arg(long, conflicts_with = "qr_image")]
        qr: Option<String>,
        /// … or an image to scan it from.
        #[arg(long)]
        qr_image: Option<PathBuf>,
        /// Face frames, for modes with 0x02 only.
        #[command(flatten)]
        frames: VerifyFrames,
    },
    /// Run the verifier kiosk: a page with the camera on loopback, this RP's key kept here.
    Serve {
        /// The scenario: hotel, internet-cafe, gov-hall, ticket-machine, event-gate, courier.
        #[arg(long)]
        preset: String,
        /// Auth mode, one of the preset's (default: its first).
        #[arg(long)]
        mode: Option<String>,
        /// Loopback address the kiosk page is served on.
        #[arg(long, default_value = "127.0.0.1:8690")]
        listen: String,
    },
    /// Upgraded enrolment at this trusted terminal for the wallet on this machine.
    Enrol {
        /// The card read through the card reader (a virtual .wzc card).
        #[arg(long)]
        card: PathBuf,
        /// The citizen's wallet file.
        #[arg(long)]
        wallet: PathBuf,
        #[command(flatten)]
        frames: LiveFrames,
    },
}

fn terminal_for(args: &TerminalArgs) -> anyhow::Result<Terminal> {
    let rp_id = args.rp_id.as_deref().context("--rp-id is required")?;
    let key_path = args.key.as_ref().context("--key is required")?;
    let pem = std::fs::read_to_string(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let client = wz_terminal::PlatformClient::with_suites(
        &args.platform,
        &args.trust.trust()?,
        args.trust.suites(),
        Duration::from_secs(30),
        2,
    )?;
    Ok(Terminal::from_client(
        rp_id,
        Sm2PrivateKey::from_pem(&pem)?,
        client,
    )?)
}

/// The mode a kiosk verifies with: `mode` if the preset allows it, else the preset's first.
pub fn kiosk_mode(preset: &wz_terminal::presets::Preset, mode: Option<&str>) -> anyhow::Result<AuthMode> {
    let chosen = mode
        .or(preset.modes.first().copied())
        .context("preset has no mode")?;
    let parsed: AuthMode = chosen.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let allowed = preset
        .modes
        .iter()
        .any(|m| m.parse::<AuthMode>().is_ok_and(|p| p == parsed));
    anyhow::ensure!(
        allowed,
        "mode {chosen} is not one of the {} preset's modes",
        preset.name
    );
    Ok(parsed)
}

/// Verdict and released attributes, as a terminal prints them.
pub fn print_verdict(v: &Verified, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "verdict    {} ({}) serial {}",
        v.verdict.result.name(),
        v.verdict.result.code(),
        v.verdict.serial
    )?;
    if let Some(l) = v.verdict.level {
        writeln!(out, "level      {}", level_name(l))?;
    }
    writeln!(
        out,
        "pseudonym  {}",
        v.verdict.pseudonym.as_deref().unwrap_or("-")
    )?;
    if let Some(a) = &v.attributes {
        let json = serde_json::to_value(a)?;
        if let Some(map) = json.as_object() {
            for (k, val) in map {
                writeln!(out, "{k:<10} {val}")?;
            }
        }
    }
    Ok(())
}

pub async fn terminal(args: TerminalArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.command {
        TerminalCommand::Scan { image } => {
            let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
            writeln!(out, "{}", wz_terminal::scan::scan_image(&bytes)?)?;
        }
        TerminalCommand::Verify {
            mode,
            qr,
            qr_image,
            frames,
        } => {
            let t = terminal_for(&args)?;
            let mode: AuthMode = mode.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let qr = match (qr, qr_image) {
                (Some(q), _) => Some(q.clone()),
                (None, Some(p)) => Some(wz_terminal::scan::scan_image(&std::fs::read(p)?)?),
                (None, None) => None,
            };
            let mut extras = Extras::default();
            if mode.contains(AuthMode::FACE) {
                let frames = frames.required()?;
                let ch = t.challenge(wz_proto::api::ChallengePurpose::Verify).await?;
                writeln!(out, "liveness challenge: {}", action_text(&ch.actions))?;
                extras.face_frames = frames.for_actions(&ch.actions)?;
                extras.challenge_id = Some(ch.challenge_id);
            }
            print_verdict(&t.verify(mode, qr.as_deref(), extras).await?, out)?;
        }
        TerminalCommand::Serve { preset, mode, listen } => {
            let preset = wz_terminal::presets::preset(preset).with_context(|| {
                format!(
                    "no preset {preset}: choose one of {}",
                    wz_terminal::presets::PRESETS.map(|p| p.name).join(", ")
                )
            })?;
            let mode = kiosk_mode(preset, mode.as_deref())?;
            let kiosk = std::sync::Arc::new(crate::kiosk::Kiosk::new(terminal_for(&args)?, preset, mode)?);
            let listener = crate::web::bind_loopback(listen).await?;
            writeln!(
                out,
                "kiosk ({}, mode {mode}): http://{}/",
                preset.name,
                listener.local_addr()?
            )?;
            out.flush()?;
            crate::kiosk::serve(kiosk, listener).await?;
        }
        TerminalCommand::Enrol { card, wallet, frames } => {
            let t = terminal_for(&args)?;
            let card = FileCardReader::new(card).read_card()?;
            let mut w = open_wallet(wallet)?;
            let ch = t
                .challenge(wz_proto::api::ChallengePurpose::EnrolUpgraded)
                .await?;
            writeln!(out, "liveness challenge: {}", action_text(&ch.actions))?;
            let pin = CredentialPin::parse_new(&secret("WZ_CREDENTIAL_PIN", "new 8-digit credential PIN")?)?;
            let (device, pop) = w.proof_of_possession(&ch)?;
            let resp = t
                .enrol_upgraded(&ch, &card, frames.for_actions(&ch.actions)?, &pin, device, pop)
                .await?;
            let holder = Holder {
                masked_name: mask_name(&card.data.name),
                masked_id_number: card.data.id_number.masked(),
            };
            let level = w.accept(&resp, holder).await?;
            writeln!(out, "enrolled: {} credential", level_name(level))?;
        }
    }
    Ok(())
}
