//! Registry records: the personal data of a citizen, sealed under the data
//! key, found by an HMAC-SM3 blind index of the ID number.

use serde::{Deserialize, Serialize};
use wz_proto::{CivilDate, IdNumber, ResultCode, Sex};
use wz_store::{NewRegistryRecord, RegistryRecord};

use crate::keys::PlatformKeys;
use crate::{PlatformError, Result};

/// A citizen as the population registry knows them. Personal data:
/// `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id_number: IdNumber,
    pub name: String,
    pub sex: Sex,
    pub ethnicity: String,
    pub birth_date: CivilDate,
    pub address: String,
    pub card_valid_from: CivilDate,
    /// `None` for a long-term card.
    pub card_valid_to: Option<CivilDate>,
}

impl Person {
    /// The chip data a card of this person carries (for virtual cards).
    #[must_use]
    pub fn to_card(&self, photo: Vec<u8>) -> wz_proto::CardData {
        wz_proto::CardData {
            id_number: self.id_number.clone(),
            name: self.name.clone(),
            sex: self.sex,
            ethnicity: self.ethnicity.clone(),
            birth_date: self.birth_date,
            address: self.address.clone(),
            valid_from: self.card_valid_from,
            valid_to: self.card_valid_to,
            photo,
        }
    }
}

impl core::fmt::Debug for Person {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Person(<redacted>)")
    }
}

/// The blind index of an ID number.
#[must_use]
pub fn blind_index(keys: &PlatformKeys, id: &IdNumber) -> [u8; 32] {
    wz_crypto::hmac_sm3_parts(&keys.index, &[b"wz-id-index-v1|", id.as_str().as_bytes()])
}

fn pii_aad(index: &[u8; 32]) -> Vec<u8> {
    [b"wz-pii-v1|".as_slice(), index].concat()
}

fn photo_aad(index: &[u8; 32]) -> Vec<u8> {
    [b"wz-photo-v1|".as_slice(), index].concat()
}

/// Seals a person (and photo, template) into a record to store.
pub fn seal_record(
    keys: &PlatformKeys,
    person: &Person,
    photo: Option<&[u8]>,
    template: Option<(Vec<u8>, String)>,
) -> Result<NewRegistryRecord> {
    let index = blind_index(keys, &person.id_number);
    let (key_id, key) = keys.current_data_key()?;
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(person)
            .map_err(|_| PlatformError::new(ResultCode::InternalError, "person encoding"))?,
    );
    let (face_template, template_model) = match template {
        Some((t, m)) => (Some(t), Some(m)),
        None => (None, None),
    };
    Ok(NewRegistryRecord {
        id_index: index,
        pii: key.seal(&json, &pii_aad(&index))?,
        photo: photo.map(|p| key.seal(p, &photo_aad(&index))).transpose()?,
        face_template,
        template_model,
        data_key_id: key_id.to_owned(),
    })
}

fn data_key<'k>(keys: &'k PlatformKeys, rec: &RegistryRecord) -> Result<&'k wz_crypto::Sm4Key> {
    keys.data.get(&rec.record.data_key_id).ok_or(PlatformError::new(
        ResultCode::InternalError,
        "registry record sealed under an unknown data key",
    ))
}

/// Opens a record's personal data.
pub fn open_person(keys: &PlatformKeys, rec: &RegistryRecord) -> Result<Person> {
    let plain = data_key(keys, rec)?
        .open(&rec.record.pii, &pii_aad(&rec.record.id_index))
        .map_err(|_| PlatformError::new(ResultCode::InternalError, "registry record does not open"))?;
    serde_json::from_slice(&plain)
        .map_err(|_| PlatformError::new(ResultCode::InternalError, "registry record is corrupt"))
}

/// Opens a record's photo, if it has one.
pub fn open_photo(keys: &PlatformKeys, rec: &RegistryRecord) -> Result<Option<Vec<u8>>> {
    let Some(sealed) = &rec.record.photo else {
        return Ok(None);
    };
    let plain = data_key(keys, rec)?
        .open(sealed, &photo_aad(&rec.record.id_index))
        .map_err(|_| PlatformError::new(ResultCode::InternalError, "registry photo does not open"))?;
    Ok(Some(plain.to_vec()))
}

/// The RP-scoped pseudonym of a citizen: stable for one RP, unlinkable across RPs.
#[must_use]
pub fn pseudonym(keys: &PlatformKeys, id_index: &[u8; 32], rp_id: &str) -> String {
    hex::encode(wz_crypto::hmac_sm3_parts(
        &keys.pseudonym,
        &[b"wz-pseudonym-v1|", id_index, b"|", rp_id.as_bytes()],
    ))
}

/// One registry row as an operator's file gives it (CSV with a header
/// row, or JSON Lines), every field text; [`RegistryRow::validate`] checks
/// it. Personal data: `Debug` is redacted.
#[derive(Clone, Deserialize)]
pub struct RegistryRow {
    pub id_number: String,
    pub name: String,
    pub sex: String,
    #[serde(default)]
    pub ethnicity: String,
    pub birth_date: String,
    #[serde(default)]
    pub address: String,
    pub card_valid_from: String,
    #[serde(default)]
    pub card_valid_to: String,
    #[serde(default)]
    pub photo: String,
}

impl core::fmt::Debug for RegistryRow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RegistryRow(<redacted>)")
    }
}

fn parse_sex(s: &str) -> Option<Sex> {
    match s.trim() {
        "男" | "M" | "m" | "male" | "Male" | "1" => Some(Sex::Male),
        "女" | "F" | "f" | "female" | "Female" | "2" => Some(Sex::Female),
        _ => None,
    }
}

impl RegistryRow {
    /// Checks every field but the photo (which the importer reads): GB 11643
    /// check digit, screen-safe text, sex and birth date against the ID
    /// number, card dates. The reason never repeats the row's data.
    pub fn validate(&self) -> Result<Person, String> {
        let raw = self;
        let id_number = IdNumber::parse(raw.id_number.trim()).map_err(|e| e.to_string())?;
        let text = |field: &str, value: &str, max: usize| {
            wz_proto::text::display_text(value, max).map_err(|fault| format!("{field} {fault}"))
        };
        let name = text("name", &raw.name, 64)?;
        let ethnicity = text("ethnicity", &raw.ethnicity, 16)?;
        let address = text("address", &raw.address, 200)?;
        let sex = parse_sex(&raw.sex).ok_or("sex must be 男/女, M/F or male/female")?;
        if sex != id_number.sex() {
            return Err("sex disagrees with the ID number".into());
        }
        let birth_date: CivilDate = raw
            .birth_date
            .trim()
            .parse()
            .map_err(|_| "birth_date is not a valid date")?;
        if birth_date != id_number.birth_date() {
            return Err("birth_date disagrees with the ID number".into());
        }
        let card_valid_from: CivilDate = raw
            .card_valid_from
            .trim()
            .parse()
            .map_err(|_| "card_valid_from is not a valid date")?;
        let to = raw.card_valid_to.trim();
        let card_valid_to = if to.is_empty() || to == "长期" || to.eq_ignore_ascii_case("long-term") {
            None
        } else {
            let d: CivilDate = to.parse().map_err(|_| "card_valid_to is not a valid date")?;
            if d <= card_valid_from {
                return Err("card_valid_to is not after card_valid_from".into());
            }
            Some(d)
        };
        Ok(Person {
            id_number,
            name,
            sex,
            ethnicity,
            birth_date,
            address,
            card_valid_from,
            card_valid_to,
        })
    }
}
