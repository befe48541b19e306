//! `wz`: the wangzheng command line. Later issues add `serve`, `demo`,
//! `wallet`, `terminal`, `registry`, `admin` and `bench`; this binary now
//! carries the operator tools that need only the foundation crates.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use wz_crypto::{Sm2PrivateKey, Sm2PublicKey};
use wz_proto::{AuthMode, IdNumber, QrEnvelope, ResultCode};

/// wangzheng (网证): prove "I am me" with a phone instead of the ID card.
#[derive(Debug, Parser)]
#[command(name = "wz", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an SM2 key pair (PKCS#8 PEM, file mode 0600) and print its key id.
    Keygen {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// Also write the public key (SubjectPublicKeyInfo PEM) here.
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
    /// Print the key id of an SM2 public or private key PEM file.
    KeyId {
        /// PEM file (PUBLIC KEY, PRIVATE KEY or EC PRIVATE KEY).
        file: PathBuf,
    },
    /// Check a resident ID number (GB 11643-1999). The number is never echoed.
    IdCheck {
        /// The 18-character number; read from standard input if absent.
        number: Option<String>,
    },
    /// Explain an auth-mode value such as 0x06 or qr+face.
    Mode {
        /// Hex bits or names joined by '+'.
        mode: String,
    },
    /// Inspect a credential QR text without decrypting it.
    QrInspect {
        /// The scanned text, starting with WZ1:.
        text: String,
    },
    /// List the result-code table.
    Codes,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Keygen {
            out: path,
            public_out,
        } => {
            let key = Sm2PrivateKey::generate()?;
            write_private(&path, key.to_pkcs8_pem()?.as_bytes())?;
            if let Some(p) = public_out {
                std::fs::write(&p, key.public_key().to_public_key_pem()?)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            writeln!(out, "{}", key.key_id())?;
        }
        Command::KeyId { file } => {
            let pem =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let id = if pem.contains("BEGIN PUBLIC KEY") {
                Sm2PublicKey::from_public_key_pem(&pem)?.key_id()
            } else {
                Sm2PrivateKey::from_pem(&pem)?.key_id()
            };
            writeln!(out, "{id}")?;
        }
        Command::IdCheck { number } => {
            let number = match number {
                Some(n) => n,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_line(&mut s)?;
                    s.trim().to_owned()
                }
            };
            match IdNumber::parse(&number) {
                Ok(id) => writeln!(
                    out,
                    "valid: {} region {:02}xxxx, born {}, {:?}",
                    id.masked(),
                    id.region_code() / 10_000,
                    id.birth_date(),
                    id.sex()
                )?,
                Err(e) => bail!("invalid: {e}"),
            }
        }
        Command::Mode { mode } => {
            let m: AuthMode = mode.parse()?;
            writeln!(out, "{m} = {}", m.names())?;
        }
        Command::QrInspect { text } => {
            let env = QrEnvelope::parse(&text)?;
            writeln!(
                out,
                "wangzheng QR v{}, platform key hint {}, {} bytes encrypted (no personal data inside)",
                env.version,
                hex_hint(env.key_hint),
                env.ciphertext.len()
            )?;
        }
        Command::Codes => {
            for c in ResultCode::ALL {
                writeln!(
                    out,
                    "{:>4}  {:<28} {}  {} / {}",
                    c.code(),
                    c.name(),
                    c.http_status(),
                    c.message_en(),
                    c.message_zh()
                )?;
            }
        }
    }
    Ok(())
}

fn hex_hint(h: [u8; 2]) -> String {
    format!("{:02x}{:02x}", h[0], h[1])
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}
