//! The data of a second-generation ID card's chip, as wangzheng's virtual
//! cards (`.wzc` files) carry it, signed by the card authority's SM2 key
//! (a key separate from the platform's).
//!
//! A real card chip is read through a licensed SAM (security access module)
//! that returns the authority-signed data; it plugs in behind the same
//! `CardReader` trait as the file reader.
//!
//! ```text
//! card = "WZCD" | format(1)=0x01 | id_number(18) | str name | sex(1: 1 male, 2 female)
//!      | str ethnicity | birth(8, YYYYMMDD) | str address | valid_from(8) | valid_to(8, "00000000" = long-term)
//!      | photo(u32 len | bytes) | authority_key_id(8) | signature(64)
//! str  = u16 len (BE) | UTF-8 bytes
//! signature = SM2Sign(authority, "wz-card-v1" | everything before the signature)
//! ```

use wz_crypto::{KeyId, Sm2PublicKey, Sm2Signature, Sm2Signer};

use crate::reader::Reader;
use crate::{CivilDate, IdNumber, ProtoError, ResultCode, Sex};

const MAGIC: &[u8; 4] = b"WZCD";
const FORMAT: u8 = 1;
const DOMAIN: &[u8] = b"wz-card-v1";
/// Largest photo a card may carry (a chip photo is ~1 KB; virtual cards may hold a JPEG).
pub const MAX_PHOTO_LEN: usize = 512 * 1024;
const MAX_STR: usize = 256;

const fn invalid(reason: &'static str) -> ProtoError {
    ProtoError::new(ResultCode::CardDataInvalid, reason)
}

/// What the card chip holds. Personal data: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct CardData {
    pub id_number: IdNumber,
    pub name: String,
    pub sex: Sex,
    pub ethnicity: String,
    pub birth_date: CivilDate,
    pub address: String,
    pub valid_from: CivilDate,
    /// `None` for a long-term (长期) card.
    pub valid_to: Option<CivilDate>,
    pub photo: Vec<u8>,
}

impl core::fmt::Debug for CardData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CardData(<redacted>)")
    }
}

/// Card data with the authority's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCard {
    pub data: CardData,
    pub authority_key_id: KeyId,
    pub signature: Sm2Signature,
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), ProtoError> {
    let len = u16::try_from(s.len())
        .ok()
        .filter(|l| usize::from(*l) <= MAX_STR)
        .ok_or(invalid("card text field too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn get_str(r: &mut Reader<'_>) -> Result<String, ProtoError> {
    let len = usize::from(u16::from_be_bytes(r.array()?));
    if len > MAX_STR {
        return Err(invalid("card text field too long"));
    }
    String::from_utf8(r.take(len)?.to_vec()).map_err(|_| invalid("card text is not UTF-8"))
}

fn get_date(r: &mut Reader<'_>) -> Result<Option<CivilDate>, ProtoError> {
    let raw = r.array::<8>()?;
    if &raw == b"00000000" {
        return Ok(None);
    }
    let s = std::str::from_utf8(&raw).map_err(|_| invalid("card date is not ASCII"))?;
    CivilDate::parse_compact(s)
        .map(Some)
        .map_err(|_| invalid("card date is invalid"))
}

impl CardData {
    fn body(&self, authority: &KeyId) -> Result<Vec<u8>, ProtoError> {
        if self.photo.len() > MAX_PHOTO_LEN {
            return Err(invalid("card photo too large"));
        }
        let mut out = Vec::with_capacity(128 + self.photo.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(self.id_number.as_str().as_bytes());
        put_str(&mut out, &self.name)?;
        out.push(match self.sex {
            Sex::Male => 1,
            Sex::Female => 2,
        });
        put_str(&mut out, &self.ethnicity)?;
        out.extend_from_slice(self.birth_date.to_compact().as_bytes());
        put_str(&mut out, &self.address)?;
        out.extend_from_slice(self.valid_from.to_compact().as_bytes());
        match self.valid_to {
            Some(d) => out.extend_from_slice(d.to_compact().as_bytes()),
            None => out.extend_from_slice(b"00000000"),
        }
        let photo_len = u32::try_from(self.photo.len()).map_err(|_| invalid("card photo too large"))?;
        out.extend_from_slice(&photo_len.to_be_bytes());
        out.extend_from_slice(&self.photo);
        out.extend_from_slice(authority.as_bytes());
        Ok(out)
    }

    /// Signs with the card authority's key.
    pub fn sign(self, authority: &dyn Sm2Signer) -> Result<SignedCard, ProtoError> {
        let body = self.body(&authority.key_id())?;
        let signature = authority.sign(&[DOMAIN, &body].concat())?;
        Ok(SignedCard {
            data: self,
            authority_key_id: authority.key_id(),
            signature,
        })
    }
}

impl SignedCard {
    /// The chip bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ProtoError> {
        let mut out = self.data.body(&self.authority_key_id)?;
        out.extend_from_slice(&self.signature.to_bytes());
        Ok(out)
    }

    /// Parses chip bytes without checking the signature. Every fault is `CardDataInvalid`.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        if bytes.len() > MAX_PHOTO_LEN + 4096 {
            return Err(invalid("card data too large"));
        }
        let mut r = Reader::with_code(bytes, ResultCode::CardDataInvalid);
        if r.array::<4>()? != *MAGIC || r.u8()? != FORMAT {
            return Err(invalid("not wangzheng card data"));
        }
        let id = std::str::from_utf8(r.take(18)?).map_err(|_| invalid("card ID number is not ASCII"))?;
        let id_number = IdNumber::parse(id).map_err(|_| invalid("card ID number is invalid"))?;
        // One card, one encoding: a lower-case check character is not canonical.
        if id_number.as_str() != id {
            return Err(invalid("card ID number is not in canonical form"));
        }
        let name = get_str(&mut r)?;
        let sex = match r.u8()? {
            1 => Sex::Male,
            2 => Sex::Female,
            _ => return Err(invalid("card sex code is invalid")),
        };
        let ethnicity = get_str(&mut r)?;
        let birth_date = get_date(&mut r)?.ok_or(invalid("card birth date missing"))?;
        let address = get_str(&mut r)?;
        let valid_from = get_date(&mut r)?.ok_or(invalid("card validity start missing"))?;
        let valid_to = get_date(&mut r)?;
        let photo_len = usize::try_from(r.u32()?).map_err(|_| invalid("card photo too large"))?;
        if photo_len > MAX_PHOTO_LEN {
            return Err(invalid("card photo too large"));
        }
        let photo = r.take(photo_len)?.to_vec();
        let authority_key_id = KeyId(r.array()?);
        let signature =
            Sm2Signature::from_bytes(&r.array::<64>()?).map_err(|_| invalid("card signature malformed"))?;
        if !r.rest().is_empty() {
            return Err(invalid("trailing bytes after card data"));
        }
        if id_number.birth_date() != birth_date || id_number.sex() != sex {
            return Err(invalid("card fields disagree with the ID number"));
        }
        let data = CardData {
            id_number,
            name,
            sex,
            ethnicity,
            birth_date,
            address,
            valid_from,
            valid_to,
            photo,
        };
        Ok(Self {
            data,
            authority_key_id,
            signature,
        })
    }

    /// Checks the authority signature.
    pub fn verify(&self, authority: &Sm2PublicKey) -> Result<(), ProtoError> {
        if authority.key_id() != self.authority_key_id {
            return Err(invalid("card signed by an unknown authority key"));
        }
        let body = self.data.body(&self.authority_key_id)?;
        authority
            .verify(&[DOMAIN, &body].concat(), &self.signature)
            .map_err(|_| invalid("card authority signature does not verify"))
    }

    /// Checks the card is valid on `today`.
    pub fn check_validity(&self, today: CivilDate) -> Result<(), ProtoError> {
        let expired = self.data.valid_to.is_some_and(|to| today > to);
        if today < self.data.valid_from || expired {
            return Err(ProtoError::new(
                ResultCode::CardExpired,
                "card is outside its validity period",
            ));
        }
        Ok(())
    }
}
