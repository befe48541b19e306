//! Operator commands that work on the platform's database directly.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use wz_crypto::{Sm2PrivateKey, Sm2PublicKey};
use wz_platform::{PlatformConfig, RpRegistration};
use wz_proto::api::Attribute;
use wz_proto::{AuthMode, IdNumber};
use wz_store::RpRole;

use crate::env;

#[derive(Debug, Subcommand)]
pub enum RpCommand {
    /// Register a relying party with its first SM2 key.
    Register {
        /// Stable id, e.g. `hotel-beijing-001` (A-Z a-z 0-9 . _ -).
        #[arg(long)]
        id: String,
        /// Display name citizens see in their history.
        #[arg(long)]
        name: String,
        /// The RP's public key (PEM file from `wz keygen --public-out`).
        #[arg(long)]
        pubkey: PathBuf,
        /// `verifier` or `trusted_terminal`.
        #[arg(long, default_value = "verifier")]
        role: String,
        /// Scenario preset filling modes, attributes and rate: hotel,
        /// internet-cafe, gov-hall, ticket-machine, event-gate, courier.
        #[arg(long)]
        preset: Option<String>,
        /// Modes it may request, e.g. `0x06,0x0C` (required without --preset).
        #[arg(long)]
        modes: Option<String>,
        /// Attributes it may receive, e.g. `name,id_number` (empty: none).
        #[arg(long)]
        attrs: Option<String>,
        /// Requests per second, e.g. `50/s`.
        #[arg(long)]
        rate: Option<String>,
    },
    /// List relying parties.
    List,
    /// Add a key to a relying party (`--replace` revokes its other keys).
    AddKey {
        #[arg(long)]
        id: String,
        #[arg(long)]
        pubkey: PathBuf,
        #[arg(long)]
        replace: bool,
    },
    /// Revoke one key by key id.
    RevokeKey { key_id: String },
    /// Revoke a relying party and all its keys.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Write a registry person's card chip data, signed by the card authority.
    Issue {
        #[arg(long)]
        id_number: String,
        /// The card authority's private key (PEM); separate from platform keys.
        #[arg(long)]
        authority_key: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a fresh master key (32 hex digits) for WZ_MASTER_KEY.
    MasterKey,
    /// Check the invariants a crash must never break (audit chain, every
    /// credential audited, superseded ones succeeded, no QR counter moved
    /// without a verdict, one active credential per citizen); exits
    /// non-zero if one is broken. Needs no master key.
    Check,
    /// Create the master key inside the PKCS#11 token named by `[hsm]` in
    /// the config (before the platform's first start over it).
    HsmKeygen,
    /// Rotate the platform's `signing` or `encryption` key.
    RotateKey { usage: String },
    /// Rebuild every registry face template made by another model (or
    /// missing) with the configured face model, from the sealed registry
    /// photos: after switching `face_model`, no re-import needed.
    /// Resumable (a rerun does only what is left) and audited per batch.
    ReenrolTemplates {
        /// Records per transaction.
        #[arg(long, default_value_t = 100)]
        batch: u32,
    },
    /// Revoke every live credential of a citizen (RPs then see
    /// `credential_revoked`; the wallet wipes itself at its next sync).
    RevokeCitizen {
        /// The citizen's ID number (asked on the terminal when omitted,
        /// so that it stays out of the shell history).
        #[arg(long)]
        id_number: Option<String>,
        /// court_order, death, fraud, citizen_request or other (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; prints the head to record elsewhere.
    Verify,
}

fn parse_rate(s: &str) -> anyhow::Result<u32> {
    let n = s.trim().trim_end_matches("/s");
    n.parse().with_context(|| "rate must look like 50/s")
}

fn read_pubkey(path: &PathBuf) -> anyhow::Result<Sm2PublicKey> {
    let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sm2PublicKey::from_public_key_pem(&pem)?)
}

pub async fn rp(config: &PlatformConfig, cmd: RpCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let platform = env::open_platform(config, env::Faces::Skip).await?;
    let now = env::now();
    match cmd {
        RpCommand::Register {
            id,
            name,
            pubkey,
            role,
            preset,
            modes,
            attrs,
            rate,
        } => {
            let preset = match preset.as_deref() {
                Some(p) => Some(wz_terminal::presets::preset(p).with_context(|| {
                    let names: Vec<&str> = wz_terminal::presets::PRESETS.iter().map(|p| p.name).collect();
                    format!("unknown preset; one of {}", names.join(", "))
                })?),
                None => None,
            };
            let modes = match (modes, preset) {
                (Some(m), _) => AuthMode::parse_list(&m)?,
                (None, Some(p)) => AuthMode::parse_list(&p.modes.join(","))?,
                (None, None) => bail!("--modes or --preset is required"),
            };
            let attributes = match (attrs, preset) {
                (Some(a), _) => Attribute::parse_list(&a)?,
                (None, Some(p)) => p.attributes.to_vec(),
                (None, None) => Vec::new(),
            };
            let rate_per_s = match (rate, preset) {
                (Some(r), _) => parse_rate(&r)?,
                (None, Some(p)) => p.rate_per_s,
                (None, None) => 50,
            };
            let reg = RpRegistration {
                rp_id: id,
                name,
                role: RpRole::parse(&role)
                    .map_err(|_| anyhow::anyhow!("role must be verifier or trusted_terminal"))?,
                public_key: read_pubkey(&pubkey)?,
                modes,
                attributes,
                rate_per_s,
            };
            let rp = platform.register_rp(&reg, "operator-cli", now).await?;
            writeln!(
                out,
                "registered {} ({}), key {}",
                rp.rp_id,
                rp.role.as_str(),
                reg.public_key.key_id()
            )?;
        }
        RpCommand::List => {
            for rp in platform.relying_parties().await? {
                let modes: Vec<String> = rp.modes.iter().map(ToString::to_string).collect();
                let attrs: Vec<&str> = rp.attributes.iter().map(|a| a.name()).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\tmodes={}\tattrs={}\t{}/s\t{}",
                    rp.rp_id,
                    rp.name,
                    rp.role,
                    modes.join(","),
                    attrs.join(","),
                    rp.rate_per_s,
                    if rp.active { "Active" } else { "Revoked" }
                )?;
            }
        }
        RpCommand::AddKey { id, pubkey, replace } => {
            let key = read_pubkey(&pubkey)?;
            platform
                .add_rp_key(&id, &key, replace, "operator-cli", now)
                .await?;
            writeln!(out, "added key {} to {id}", key.key_id())?;
        }
        RpCommand::RevokeKey { key_id } => {
            platform.revoke_rp_key(&key_id, "operator-cli", now).await?;
            writeln!(out, "revoked key {key_id}")?;
        }
        RpCommand::Revoke { id } => {
            platform.revoke_rp(&id, "operator-cli", now).await?;
            writeln!(out, "revoked {id}")?;
        }
    }
    platform.store().close().await;
    Ok(())
}

pub async fn card(config: &PlatformConfig, cmd: CardCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let CardCommand::Issue {
        id_number,
        authority_key,
        out: path,
    } = cmd;
    let id = IdNumber::parse(&id_number).map_err(|e| anyhow::anyhow!("invalid ID number: {e}"))?;
    let pem = std::fs::read_to_string(&authority_key)
        .with_context(|| format!("reading {}", authority_key.display()))?;
    let authority = Sm2PrivateKey::from_pem(&pem)?;
    let platform = env::open_platform(config, env::Faces::Skip).await?;
    let Some((person, photo)) = platform.person(&id).await? else {
        bail!("no registry record for that ID number")
    };
    let card = person.to_card(photo.unwrap_or_default()).sign(&authority)?;
    env::write_secret(&path, &card.encode()?)?;
    writeln!(
        out,
        "wrote card for {} to {} (authority key {})",
        id.masked(),
        path.display(),
        authority.key_id()
    )?;
    platform.store().close().await;
    Ok(())
}

pub async fn admin(config: &PlatformConfig, cmd: AdminCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::MasterKey => {
            writeln!(out, "{}", wz_platform::keys::MasterKey::generate_hex()?.as_str())?;
        }
        AdminCommand::HsmKeygen => {
            let hsm = config
                .hsm
                .as_ref()
                .context("no [hsm] section in the config: name the PKCS#11 module and token first")?;
            let wrapper = wz_hsm::Pkcs11Wrapper::generate(&env::hsm_config(hsm)?)?;
            writeln!(out, "created {}", wz_crypto::KeyWrapper::describe(&wrapper))?;
        }
        AdminCommand::RotateKey { usage } => {
            let usage =
                wz_proto::api::KeyUsage::parse(&usage).context("only signing and encryption keys rotate")?;
            let platform = env::open_platform(config, env::Faces::Skip).await?;
            let id = platform.rotate_key(usage, "operator-cli", env::now()).await?;
            writeln!(
                out,
                "new current {} key {id}; the previous one drains for {} s",
                usage.as_str(),
                config.key_drain_secs
            )?;
            platform.store().close().await;
        }
        AdminCommand::ReenrolTemplates { batch } => {
            let platform = env::open_platform(config, env::Faces::Load).await?;
            let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                indicatif::ProgressBar::new(0)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} templates  {per_sec}  eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = platform
                .reenrol_templates(batch, "operator-cli", env::now(), |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            writeln!(
                out,
                "{} templates rebuilt with {}; {} photos without a usable face kept their old template",
                report.rebuilt, report.model, report.refused
            )?;
            platform.store().close().await;
        }
        AdminCommand::RevokeCitizen { id_number, reason } => {
            let reason = wz_proto::admin::RevocationReason::parse(&reason).with_context(|| {
                let names: Vec<&str> = wz_proto::admin::RevocationReason::ALL
                    .iter()
                    .map(|r| r.name())
                    .collect();
                format!("reason must be one of {}", names.join(", "))
            })?;
            let id_number = match id_number {
                Some(n) => n,
                None => {
                    eprint!("citizen ID number: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            let id_number =
                wz_proto::IdNumber::parse(&id_number).map_err(|e| anyhow::anyhow!("ID number: {e}"))?;
            let platform = env::open_platform(config, env::Faces::Skip).await?;
            let n = platform
                .revoke_citizen(&id_number, reason, "operator-cli", env::now())
                .await?;
            writeln!(
                out,
                "revoked {n} credential(s) of {} ({})",
                id_number.masked(),
                reason.name()
            )?;
            platform.store().close().await;
        }
        AdminCommand::Check => {
            env::prepare_data_dir(config)?;
            let r = wz_platform::consistency_at(&config.database_url).await?;
            writeln!(
                out,
                "audit entries {} ({}); credentials without audit {}; superseded without successor {}; counters without verdict {}; citizens with two active {}",
                r.audit.entries,
                if r.audit.is_intact() {
                    "chain intact"
                } else {
                    "chain broken"
                },
                r.credentials_without_audit,
                r.superseded_without_successor,
                r.counters_without_verdict,
                r.citizens_with_two_active
            )?;
            if !r.is_consistent() {
                bail!("the store is inconsistent");
            }
            writeln!(out, "consistent")?;
        }
        AdminCommand::Audit(AuditCommand::Verify) => {
            env::prepare_data_dir(config)?;
            let status = wz_platform::audit_status_at(&config.database_url).await?;
            match (status.head_seq, &status.head_hash) {
                (Some(seq), Some(hash)) => {
                    writeln!(out, "{} entries; head seq {seq} hash {hash}", status.entries)?
                }
                _ => writeln!(out, "audit log is empty")?,
            }
            if let (Some(seq), Some(why)) = (status.first_break_seq, &status.first_break) {
                bail!("audit chain broken at entry {seq}: {why}");
            }
            writeln!(
                out,
                "chain intact (compare the head with your last recorded head to detect truncation)"
            )?;
        }
    }
    Ok(())
}
