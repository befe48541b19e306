//! `wz serve`: the platform over HTTP until SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use wz_platform::PlatformConfig;

use crate::env;

pub async fn run(config: PlatformConfig) -> anyhow::Result<()> {
    env::init_logging(config.log_json);
    let platform = Arc::new(env::open_platform(&config, env::Faces::Load).await?);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (face_model, face_threshold) = crate::face::describe(&config)?;
    tracing::info!(
        %addr,
        backend = ?platform.store().backend(),
        face_model,
        face_threshold,
        "wz serve listening"
    );
    let tls = env::tls_identity(&config)?;
    let housekeeping = tokio::spawn(housekeep_every_minute(Arc::clone(&platform)));
    let app = wz_platform::http::router(Arc::clone(&platform));
    match tls {
        Some(identity) => {
            println!("wz serve: https://{addr}");
            println!("TLS certificate SHA-256: {}", identity.fingerprint_hex());
            tracing::info!(suites = ?config.tls_suites, "TLS 1.3");
            let app = wz_platform::tls::with_fingerprint(app, &identity);
            wz_platform::tls::serve(
                listener,
                app,
                identity.server_config(config.tls_suites)?,
                shutdown(),
            )
            .await?;
        }
        None => {
            println!("wz serve: http://{addr} (TLS off)");
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown())
            .await?;
        }
    }
    housekeeping.abort();
    platform.store().close().await;
    tracing::info!("wz serve stopped");
    Ok(())
}

/// Purges used nonces and expired challenges so the tables stay bounded.
async fn housekeep_every_minute(platform: Arc<wz_platform::Platform>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match platform.housekeep(env::now()).await {
            Ok(done) => tracing::debug!(
                rp_nonces = done.rp_nonces,
                challenges = done.challenges,
                attempt_budgets = done.attempt_budgets,
                retired_keys = done.retired_keys,
                "housekeeping"
            ),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
