//! `wz wallet …` (the citizen's phone) and `wz terminal …` (a relying
//! party's or trusted terminal's side), thin over `wz-wallet` and `wz-terminal`.

use std::io::{BufRead as _, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wz_crypto::Sm2PrivateKey;
use wz_proto::api::{IdentityItems, LivenessAction};
use wz_proto::{AuthMode, CivilDate, CredentialPin, IdNumber};
use wz_terminal::card_reader::{CardReader as _, FileCardReader};
use wz_terminal::{Extras, Terminal, Verified};
use wz_wallet::{FileKeystore, Holder, Wallet, mask_name};

use crate::env;

/// Live capture frames: facing the camera, turned left, turned right
/// (image files from a camera; a phone app streams them instead).
#[derive(Debug, Clone, Args)]
pub struct LiveFrames {
    /// Frame facing the camera.
    #[arg(long)]
    pub frontal: PathBuf,
    /// Frame with the head turned to the citizen's left.
    #[arg(long)]
    pub left: PathBuf,
    /// Frame with the head turned to the citizen's right.
    #[arg(long)]
    pub right: PathBuf,
    /// Frame with the mouth wide open (when the platform asks for it).
    #[arg(long)]
    pub mouth_open: Option<PathBuf>,
}

/// Face frames a verification may need: all optional on the command line,
/// required only by modes with a face (0x02), so QR-only checks need none.
#[derive(Debug, Clone, Args)]
pub struct VerifyFrames {
    /// Frame facing the camera (modes with 0x02).
    #[arg(long)]
    pub frontal: Option<PathBuf>,
    /// Frame with the head turned to the citizen's left.
    #[arg(long)]
    pub left: Option<PathBuf>,
    /// Frame with the head turned to the citizen's right.
    #[arg(long)]
    pub right: Option<PathBuf>,
    /// Frame with the mouth wide open (when the platform asks for it).
    #[arg(long)]
    pub mouth_open: Option<PathBuf>,
}

impl VerifyFrames {
    /// The frames as a face mode needs them.
    pub fn required(&self) -> anyhow::Result<LiveFrames> {
        match (&self.frontal, &self.left, &self.right) {
            (Some(f), Some(l), Some(r)) => Ok(LiveFrames {
                frontal: f.clone(),
                left: l.clone(),
                right: r.clone(),
                mouth_open: self.mouth_open.clone(),
            }),
            _ => bail!("this mode needs --frontal, --left and --right"),
        }
    }
}

impl LiveFrames {
    /// The frames a challenge asks for: facing the camera, then each action in order.
    pub fn for_actions(&self, actions: &[LivenessAction]) -> anyhow::Result<Vec<Vec<u8>>> {
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let mut out = vec![read(&self.frontal)?];
        for a in actions {
            out.push(match a {
                LivenessAction::TurnLeft => read(&self.left)?,
                LivenessAction::TurnRight => read(&self.right)?,
                LivenessAction::OpenMouth => match &self.mouth_open {
                    Some(p) => read(p)?,
                    None => bail!("the platform asks for an open mouth: pass --mouth-open FRAME"),
                },
                other => bail!("no frame for the action {other:?}"),
            });
        }
        Ok(out)
    }
}

/// "turn left, then turn right".
pub fn action_text(actions: &[LivenessAction]) -> String {
    if actions.is_empty() {
        return "no action asked (face match only)".to_owned();
    }
    actions
        .iter()
        .map(|a| match a {
            LivenessAction::TurnLeft => "turn left",
            LivenessAction::TurnRight => "turn right",
            LivenessAction::Blink => "blink",
            LivenessAction::OpenMouth => "open mouth",
            LivenessAction::Nod => "nod",
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

/// How the CLI trusts the platform's HTTPS certificate.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// SHA-256 of the platform's TLS certificate (printed by `wz serve`).
    #[arg(long, global = true, conflicts_with = "ca")]
    pub pin_sha256: Option<String>,
    /// CA certificate file (PEM) the platform's certificate chains to.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Offer only the RFC 8998 ShangMi suite (for `tls_suites = "shangmi"`).
    #[arg(long, global = true)]
    pub shangmi: bool,
}

impl TrustArgs {
    /// The TLS suites these flags ask for.
    pub fn suites(&self) -> wz_wallet::TlsSuites {
        if self.shangmi {
            wz_wallet::TlsSuites::ShangMi
        } else {
            wz_wallet::TlsSuites::Standard
        }
    }

    /// The trust these flags give (the system's store when neither is set).
    pub fn trust(&self) -> anyhow::Result<wz_wallet::Trust> {
        Ok(match (&self.pin_sha256, &self.ca) {
            (Some(pin), _) => wz_wallet::Trust::pin_from_hex(pin)?,
            (None, Some(ca)) => wz_wallet::Trust::CaPem(
                std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?,
            ),
            (None, None) => wz_wallet::Trust::System,
        })
    }
}

#[derive(Debug, Args)]
pub struct WalletArgs {
    /// The wallet file (sealed under the wallet PIN; from WZ_WALLET_PIN or asked).
    #[arg(long, global = true, default_value = "wz-wallet/wallet.json")]
    wallet: PathBuf,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create the wallet: a device key sealed under a new wallet PIN.
    Init {
        /// Platform URL, e.g. https://127.0.0.1:8680.
        #[arg(long)]
        platform: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Lightweight enrolment online: four items + live face.
    EnrolLight {
        #[arg(long)]
        name: String,
        #[arg(long)]
        id_number: String,
        /// Card valid from, YYYY-MM-DD.
        #[arg(long)]
        valid_from: String,
        /// Card valid to, YYYY-MM-DD, or 长期 for a long-term card.
        #[arg(long)]
        valid_to: String,
        #[command(flatten)]
        frames: LiveFrames,
    },
    /// Level, masked name and ID number, validity.
    Show,
    /// Turn the local face check before the QR on (template from --photo) or off.
    FaceLock {
        /// A photo of the holder, facing the camera.
        #[arg(long, conflicts_with = "off")]
        photo: Option<PathBuf>,
        #[arg(long)]
        off: bool,
    },
    /// The rotating QR: drawn here, optionally saved; --watch renews it every 60 s.
    Qr {
        /// A live frame of the holder, when the face lock is on.
        #[arg(long)]
        face: Option<PathBuf>,
        #[arg(long)]
        png: Option<PathBuf>,
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Print only the QR text (for piping into `wz terminal verify --qr`).
        #[arg(long)]
        text: bool,
        /// Keep showing a fresh QR every 60 s until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Learn the credential's status and the platform clock; a voided credential is wiped.
    Sync,
    /// Who verified me.
    History {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Suspend the credential.
    Suspend,
    /// Lift the suspension: live face, and for an upgraded credential the
    /// credential PIN (from WZ_CREDENTIAL_PIN or asked).
    Resume {
        #[command(flatten)]
        frames: LiveFrames,
    },
    /// Change the wallet PIN (new one from WZ_NEW_WALLET_PIN or asked).
    PinReset,
}

fn secret(var: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn open_wallet(path: &Path) -> anyhow::Result<Wallet<FileKeystore>> {
    let pin = secret("WZ_WALLET_PIN", "wallet PIN")?;
    Ok(Wallet::unlock(FileKeystore::new(path), &pin, env::now())?)
}

/// The face engine on the device (the default models; a phone would use
/// its own secure face unlock behind the same wallet call).
fn local_face_engine() -> anyhow::Result<wz_face::Engine> {
    Ok(wz_face::Engine::load(&wz_face::default_models_dir(), None)?)
}

fn date(s: &str) -> anyhow::Result<CivilDate> {
    s.parse().map_err(|e| anyhow::anyhow!("{e}"))
}

fn level_name(l: wz_proto::Level) -> &'static str {
    match l {
        wz_proto::Level::Lightweight => "lightweight (轻量版)",
        wz_proto::Level::Upgraded => "upgraded (升级版)",
    }
}

pub async fn wallet(args: WalletArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let path = args.wallet.as_path();
    match args.command {
        WalletCommand::Init { platform, trust } => {
            let pin = secret("WZ_WALLET_PIN", "new wallet PIN (6+ characters)")?;
            Wallet::init_with_suites(
                FileKeystore::new(path),
                &pin,
                &platform,
                &trust.trust()?,
                trust.suites(),
            )?;
            writeln!(out, "wallet created at {}", path.display())?;
        }
        WalletCommand::EnrolLight {
            name,
            id_number,
            valid_from,
            valid_to,
            frames,
        } => {
            let mut w = open_wallet(path)?;
            let items = IdentityItems {
                name,
                id_number: IdNumber::parse(&id_number).map_err(|e| anyhow::anyhow!("ID number: {e}"))?,
                card_valid_from: Some(date(&valid_from)?),
                card_valid_to: if valid_to == "长期" {
                    None
                } else {
                    Some(date(&valid_to)?)
                },
            };
            let ch = w.challenge(wz_proto::api::ChallengePurpose::EnrolLight).await?;
            writeln!(out, "liveness challenge: {}", action_text(&ch.actions))?;
            let level = w
                .enrol_light(&ch, &items, frames.for_actions(&ch.actions)?)
                .await?;
            writeln!(out, "enrolled: {} credential", level_name(level))?;
        }
        WalletCommand::Show => {
            let w = open_wallet(path)?;
            if !w.is_enrolled() {
                writeln!(out, "no credential on this device: enrol first")?;
                return Ok(());
            }
            let s = w.summary()?;
            let (name, id) = s.holder.as_ref().map_or(("?", "?"), |h| {
                (h.masked_name.as_str(), h.masked_id_number.as_str())
            });
            writeln!(out, "level      {}", level_name(s.level))?;
            writeln!(out, "holder     {name} {id}")?;
            writeln!(out, "valid      {} – {} (unix s)", s.not_before, s.not_after)?;
        }
        WalletCommand::FaceLock { photo, off } => {
            let mut w = open_wallet(path)?;
            match (photo, off) {
                (_, true) => {
                    w.set_face_gate(None)?;
                    writeln!(out, "face lock off")?;
                }
                (Some(p), false) => {
                    let engine = local_face_engine()?;
                    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
                    let template = engine
                        .template(&bytes)?
                        .map_err(|f| anyhow::anyhow!("photo not usable: {f}"))?;
                    w.set_face_gate(Some((engine.model_id(), &template)))?;
                    writeln!(
                        out,
                        "face lock on: the QR is shown after a face check on this device"
                    )?;
                }
                (None, false) => bail!("give --photo or --off"),
            }
        }
        WalletCommand::Qr {
            face,
            png,
            svg,
            text,
            watch,
        } => {
            let mut w = open_wallet(path)?;
            if w.face_gate()?.is_some() {
                let frame = face.as_ref().context("the face lock is on: pass --face FRAME")?;
                let frame = std::fs::read(frame).with_context(|| format!("reading {}", frame.display()))?;
                let engine = local_face_engine()?;
                w.check_face(|model_id, template| {
                    model_id == engine.model_id()
                        && engine
                            .check_live(std::slice::from_ref(&frame), &[], template)
                            .ok()
                            .and_then(Result::ok)
                            .is_some_and(|c| c.matched)
                })?;
            }
            loop {
                let qr = w.qr().await?;
                let symbol = wz_wallet::render::symbol(&qr)?;
                if text {
                    writeln!(out, "{qr}")?;
                } else {
                    write!(out, "{}", wz_wallet::render::to_terminal(&symbol))?;
                    writeln!(
                        out,
                        "new QR every {} s; shows no personal data",
                        wz_wallet::QR_REFRESH_SECS
                    )?;
                }
                if let Some(p) = &png {
                    std::fs::write(p, wz_wallet::render::to_png(&symbol, 6)?)?;
                }
                if let Some(p) = &svg {
                    std::fs::write(p, wz_wallet::render::to_svg(&symbol))?;
                }
                out.flush()?;
                if !watch {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(wz_wallet::QR_REFRESH_SECS)) => {}
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
        WalletCommand::Sync => {
            let mut w = open_wallet(path)?;
            let s = w.sync().await?;
            writeln!(
                out,
                "status {:?}; platform clock offset {} s",
                s.status, s.clock_offset
            )?;
            if s.wiped {
                writeln!(
                    out,
                    "this credential is no longer valid and was wiped from this device; enrol again to use it"
                )?;
            }
        }
        WalletCommand::History { limit } => {
            let w = open_wallet(path)?;
            for h in w.history(limit).await? {
                writeln!(
                    out,
                    "{:>12}  {:<32} {:<6} {}",
                    h.time,
                    h.rp_name,
                    h.mode.to_string(),
                    h.result.name()
                )?;
            }
        }
        WalletCommand::Suspend => {
            let mut w = open_wallet(path)?;
            writeln!(out, "credential is now {:?}", w.suspend().await?)?;
        }
        WalletCommand::Resume { frames } => {
            let mut w = open_wallet(path)?;
            let pin = if w.summary()?.level == wz_proto::Level::Upgraded {
                Some(CredentialPin::parse(&secret(
                    "WZ_CREDENTIAL_PIN",
                    "8-digit credential PIN",
                )?)?)
            } else {
                None
            };
            let ch = w.challenge(wz_proto::api::ChallengePurpose::Resume).await?;
            writeln!(out, "liveness challenge: {}", action_text(&ch.actions))?;
            let status = w
                .resume(&ch, frames.for_actions(&ch.actions)?, pin.as_ref())
                .await?;
            writeln!(out, "credential is now {status:?}")?;
        }
        WalletCommand::PinReset => {
            let mut w = open_wallet(path)?;
            let new_pin = secret("WZ_NEW_WALLET_PIN", "new wallet PIN")?;
            w.change_pin(&new_pin)?;
            writeln!(out, "wallet PIN changed")?;
        }
    }
    Ok(())
}

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
