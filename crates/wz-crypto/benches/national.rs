//! SM2/SM3/SM4 figures for wz-crypto (RustCrypto underneath), each beside
//! the same operation in `libsm` as a baseline measured in the same run.
//! Groups name the operation; `wz` and `libsm` are the two contenders.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wz_crypto::{PinHash, Sm2PrivateKey, Sm4Key, sm3};

const MSG: &[u8] = b"wz-qr-v1 0123456789abcdef0123456789abcdef0123456789";

fn sm2(c: &mut Criterion) {
    let key = Sm2PrivateKey::generate().unwrap();
    let pk = key.public_key().clone();
    let sig = key.sign(MSG).unwrap();
    // A QR body is 100 bytes.
    let body = [0x5au8; 100];
    let ct = pk.encrypt(&body).unwrap();

    let ctx = libsm::sm2::signature::SigCtx::new();
    let (lpk, lsk) = ctx.new_keypair().unwrap();
    let lsig = ctx.sign(MSG, &lsk, &lpk).unwrap();
    let lenc = libsm::sm2::encrypt::EncryptCtx::new(body.len(), lpk);
    let ldec = libsm::sm2::encrypt::DecryptCtx::new(body.len(), lsk.clone());
    let lct = lenc.encrypt(&body).unwrap();

    let mut g = c.benchmark_group("sm2_sign");
    g.bench_function("wz", |b| b.iter(|| key.sign(black_box(MSG)).unwrap()));
    g.bench_function("libsm", |b| {
        b.iter(|| ctx.sign(black_box(MSG), &lsk, &lpk).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("sm2_verify");
    g.bench_function("wz", |b| b.iter(|| pk.verify(black_box(MSG), &sig).unwrap()));
    // A long-lived key with its precomputed table (RP request keys, the
    // card authority, the platform key in a terminal).
    let tabled = pk.clone().with_verify_table();
    g.bench_function("wz-key-table", |b| {
        b.iter(|| tabled.verify(black_box(MSG), &sig).unwrap())
    });
    // The `sm2` crate's own constant-time verifier: what wz used before.
    {
        use sm2::dsa::signature::Verifier as _;
        let vk =
            sm2::dsa::VerifyingKey::from_sec1_bytes(wz_crypto::DEFAULT_USER_ID, &pk.to_sec1_bytes()).unwrap();
        let csig = sm2::dsa::Signature::try_from(&sig.to_bytes()[..]).unwrap();
        g.bench_function("sm2-crate", |b| {
            b.iter(|| vk.verify(black_box(MSG), &csig).unwrap())
        });
    }
    g.bench_function("libsm", |b| {
        b.iter(|| assert!(ctx.verify(black_box(MSG), &lpk, &lsig).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("sm2_encrypt_100B");
    g.bench_function("wz", |b| b.iter(|| pk.encrypt(black_box(&body)).unwrap()));
    g.bench_function("libsm", |b| b.iter(|| lenc.encrypt(black_box(&body)).unwrap()));
    g.finish();

    let mut g = c.benchmark_group("sm2_decrypt_100B");
    g.bench_function("wz", |b| b.iter(|| key.decrypt(black_box(&ct)).unwrap()));
    g.bench_function("libsm", |b| b.iter(|| ldec.decrypt(black_box(&lct)).unwrap()));
    g.finish();
}

fn sm3_sm4(c: &mut Criterion) {
    let data = vec![0xa5u8; 64 * 1024];
    let mut g = c.benchmark_group("sm3_64KiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("wz", |b| b.iter(|| sm3(black_box(&data))));
    g.bench_function("libsm", |b| {
        b.iter(|| libsm::sm3::hash::Sm3Hash::new(black_box(&data)).get_hash())
    });
    g.finish();

    let key = Sm4Key::from_slice(&[7u8; 16]).unwrap();
    let lgcm =
        libsm::sm4::cipher_mode::Sm4CipherMode::new(&[7u8; 16], libsm::sm4::cipher_mode::CipherMode::Gcm)
            .unwrap();
    let mut g = c.benchmark_group("sm4_gcm_seal_64KiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("wz", |b| b.iter(|| key.seal(black_box(&data), b"aad").unwrap()));
    // libsm's GCM takes a 16-byte IV (J0 then comes from GHASH).
    g.bench_function("libsm", |b| {
        b.iter(|| lgcm.encrypt(b"aad", black_box(&data), &[3u8; 16]).unwrap())
    });
    g.finish();

    let sealed = key.seal(&data, b"aad").unwrap();
    let mut g = c.benchmark_group("sm4_gcm_open_64KiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("wz", |b| b.iter(|| key.open(black_box(&sealed), b"aad").unwrap()));
    g.finish();
}

fn kdf(c: &mut Criterion) {
    let mut g = c.benchmark_group("pin_kdf");
    g.sample_size(10);
    let iters = wz_crypto::kdf::DEFAULT_ITERATIONS;
    g.bench_with_input(BenchmarkId::new("pbkdf2_sm3", iters), &iters, |b, &i| {
        b.iter(|| PinHash::create(black_box(b"20261126"), None, i).unwrap());
    });
    g.finish();
}

criterion_group!(benches, sm2, sm3_sm4, kdf);
criterion_main!(benches);
