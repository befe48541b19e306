//! Self-signed X.509 v3 certificates with an SM2 key, signed SM2-with-SM3
//! (GM/T 0015 profile, default user id), for a ShangMi TLS server. Written
//! by hand in DER: no certificate crate here builds SM2 certificates.

use std::net::IpAddr;

use base64::Engine as _;
use wz_crypto::Sm2PrivateKey;

use crate::provider::{SM2_PUBLIC_KEY_ALG_ID, SM2_SM3_SIG_ALG_ID};
use crate::{Result, TlsError};

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        let used = len.get(skip..).unwrap_or_default();
        out.push(0x80 | used.len() as u8);
        out.extend_from_slice(used);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn name(common_name: &str) -> Vec<u8> {
    // Name ::= SEQUENCE { SET { SEQUENCE { id-at-commonName, UTF8String } } }
    let atv = seq(&[
        &[0x06, 0x03, 0x55, 0x04, 0x03],
        &tlv(0x0c, common_name.as_bytes()),
    ]);
    seq(&[&tlv(0x31, &atv)])
}

/// A self-signed certificate for `hosts` (DNS names or IP addresses),
/// valid 2025-01-01 to 2034-12-31, as DER.
pub fn self_signed_sm2_der(key: &Sm2PrivateKey, common_name: &str, hosts: &[String]) -> Result<Vec<u8>> {
    let mut serial = wz_crypto::random_array::<16>().map_err(|_| TlsError::Random)?;
    // Positive, and without a leading zero byte (DER minimal encoding).
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    let sig_alg = tlv(0x30, SM2_SM3_SIG_ALG_ID);
    let validity = seq(&[&tlv(0x17, b"250101000000Z"), &tlv(0x17, b"341231235959Z")]);
    let mut point = vec![0u8];
    point.extend_from_slice(&key.public_key().to_sec1_bytes());
    let spki = seq(&[&tlv(0x30, SM2_PUBLIC_KEY_ALG_ID), &tlv(0x03, &point)]);
    let mut general_names = Vec::new();
    for h in hosts {
        match h.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => general_names.extend(tlv(0x87, &ip.octets())),
            Ok(IpAddr::V6(ip)) => general_names.extend(tlv(0x87, &ip.octets())),
            Err(_) => general_names.extend(tlv(0x82, h.as_bytes())),
        }
    }
    let san = seq(&[
        &[0x06, 0x03, 0x55, 0x1d, 0x11],
        &tlv(0x04, &tlv(0x30, &general_names)),
    ]);
    let extensions = tlv(0xa3, &seq(&[&san]));
    let subject = name(common_name);
    let tbs = seq(&[
        &[0xa0, 0x03, 0x02, 0x01, 0x02],
        &tlv(0x02, &serial),
        &sig_alg,
        &subject,
        &validity,
        &subject,
        &spki,
        &extensions,
    ]);
    let signature = key
        .sign_with_id(wz_crypto::DEFAULT_USER_ID, &tbs)
        .map_err(|_| TlsError::Sign)?
        .to_der();
    let mut bits = vec![0u8];
    bits.extend_from_slice(&signature);
    Ok(seq(&[&tbs, &sig_alg, &tlv(0x03, &bits)]))
}

/// PEM text of a DER certificate.
#[must_use]
pub fn cert_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
