//! Wallet QR: build (counter, device signature, SM2 encryption to the
//! platform) and render (symbol, terminal half-blocks, PNG).
//! `cargo bench -p wz-wallet --bench qr`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use wz_crypto::Sm2PrivateKey;
use wz_proto::{CredentialId, QrBody};

fn bench(c: &mut Criterion) {
    let device = Sm2PrivateKey::generate().unwrap();
    let platform = Sm2PrivateKey::generate().unwrap();
    let cred_id = CredentialId([7; 16]);
    let mut counter = 0u32;
    let mut build = || {
        counter += 1;
        QrBody {
            cred_id,
            issued_at: 1_800_000_000,
            counter,
            nonce: wz_crypto::random_array().unwrap(),
        }
        .seal(&device, platform.public_key())
        .unwrap()
    };
    let text = build();
    let mut g = c.benchmark_group("wallet_qr");
    g.bench_function("build (sign + encrypt + base45)", |b| b.iter(&mut build));
    g.bench_function("render terminal", |b| {
        b.iter(|| wz_wallet::render::to_terminal(&wz_wallet::render::symbol(&text).unwrap()))
    });
    g.bench_function("render png (4 px a module)", |b| {
        b.iter(|| wz_wallet::render::to_png(&wz_wallet::render::symbol(&text).unwrap(), 4).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
