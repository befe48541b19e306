//! `wz wallet …`: the citizen's phone, thin over `wz-wallet`; and the
//! capture and trust arguments `wz terminal …` shares.

use std::io::{BufRead as _, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wz_proto::api::{IdentityItems, LivenessAction};
use wz_proto::{CivilDate, CredentialPin, IdNumber};
use wz_wallet::{FileKeystore, Wallet};

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
    /// Serve the wallet page (the phone app's screens) on loopback.
    Serve {
        /// Loopback address the page is served on.
        #[arg(long, default_value = "127.0.0.1:8691")]
        listen: String,
        /// Platform URL, so the page can create the wallet when there is none yet.
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

pub(crate) fn secret(var: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub(crate) fn open_wallet(path: &Path) -> anyhow::Result<Wallet<FileKeystore>> {
    let pin = secret("WZ_WALLET_PIN", "wallet PIN")?;
    Ok(Wallet::unlock(FileKeystore::new(path), &pin, env::now())?)
}

/// The face engine on the device (the default models; a phone would use
/// its own secure face unlock behind the same wallet call).
fn local_face_engine() -> anyhow::Result<wz_face::Engine> {
    Ok(wz_face::Engine::load(&wz_face::default_models_dir(), None)?)
}

pub(crate) fn date(s: &str) -> anyhow::Result<CivilDate> {
    s.parse().map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn level_name(l: wz_proto::Level) -> &'static str {
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
        WalletCommand::Serve {
            listen,
            platform,
            trust,
        } => {
            let platform = match platform {
                Some(url) => Some(crate::wallet_web::NewWalletPlatform {
                    url,
                    trust: trust.trust()?,
                    suites: trust.suites(),
                }),
                None => None,
            };
            let guide = crate::web::PoseGuide::load()
                .inspect_err(|e| eprintln!("enrolment in the page is off: {e:#}"))
                .ok();
            let service = std::sync::Arc::new(crate::wallet_web::WalletService::new(
                path.to_path_buf(),
                platform,
                guide,
            ));
            let listener = crate::web::bind_loopback(&listen).await?;
            writeln!(out, "wallet page: http://{}/", listener.local_addr()?)?;
            out.flush()?;
            crate::wallet_web::serve(service, listener).await?;
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
