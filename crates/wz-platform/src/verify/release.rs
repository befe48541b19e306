//! Releasing the attributes an RP is entitled to, encrypted to its key.

use wz_crypto::Sm2PublicKey;
use wz_proto::ResultCode;
use wz_proto::api::{Attribute, Bytes, ReleasedAttributes};
use wz_store::{RegistryRecord, RelyingParty};

use crate::Result;
use crate::registry::{open_person, open_photo};

use crate::platform::{Platform, china_date, err};

impl Platform {
    pub(crate) fn release(
        &self,
        rp: &RelyingParty,
        rp_key: &Sm2PublicKey,
        record: &RegistryRecord,
        now: u64,
    ) -> Result<(Vec<Attribute>, Option<Bytes>)> {
        if rp.attributes.is_empty() {
            return Ok((Vec::new(), None));
        }
        let keys = self.keys();
        let person = open_person(&keys, record)?;
        let today = china_date(now);
        let age = person.birth_date.age_on(today);
        let mut out = ReleasedAttributes::default();
        for a in &rp.attributes {
            match a {
                Attribute::Name => out.name = Some(person.name.clone()),
                Attribute::IdNumber => out.id_number = Some(person.id_number.clone()),
                Attribute::Sex => out.sex = Some(person.sex),
                Attribute::BirthDate => out.birth_date = Some(person.birth_date),
                Attribute::AgeOver18 => out.age_over_18 = Some(age >= 18),
                Attribute::AgeOver60 => out.age_over_60 = Some(age >= 60),
                Attribute::Address => out.address = Some(person.address.clone()),
                Attribute::Photo => out.photo = open_photo(&keys, record)?.map(Bytes),
                Attribute::Ethnicity => out.ethnicity = Some(person.ethnicity.clone()),
                Attribute::CardValidity => {
                    out.card_valid_from = Some(person.card_valid_from);
                    out.card_valid_to = person.card_valid_to;
                }
            }
        }
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&out).map_err(|_| err(ResultCode::InternalError, "attribute encoding"))?,
        );
        Ok((rp.attributes.clone(), Some(Bytes(rp_key.encrypt(&json)?))))
    }
}
