//! The one table of result codes shared by platform, wallet and terminals.
//! Numbers are stable: never reuse or renumber a code. Messages never
//! contain personal data.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! result_codes {
    ($( $(#[$doc:meta])* $name:ident = $num:literal, $slug:literal, $http:literal, $en:literal, $zh:literal; )*) => {
        /// Outcome of a platform operation.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ResultCode {
            $( $(#[$doc])* $name = $num, )*
        }

        impl ResultCode {
            /// Every code, in table order.
            pub const ALL: &'static [ResultCode] = &[$(ResultCode::$name,)*];

            /// The stable number.
            #[must_use]
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The stable snake_case name (used in JSON and metrics labels).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(ResultCode::$name => $slug,)* }
            }

            /// The HTTP status that fits when this code ends a request.
            #[must_use]
            pub const fn http_status(self) -> u16 {
                match self { $(ResultCode::$name => $http,)* }
            }

            /// English message, free of personal data.
            #[must_use]
            pub const fn message_en(self) -> &'static str {
                match self { $(ResultCode::$name => $en,)* }
            }

            /// Chinese message, free of personal data.
            #[must_use]
            pub const fn message_zh(self) -> &'static str {
                match self { $(ResultCode::$name => $zh,)* }
            }

            /// The code with this number.
            #[must_use]
            pub fn from_code(code: u16) -> Option<Self> {
                match code { $($num => Some(ResultCode::$name),)* _ => None }
            }

            /// The code with this name.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($slug => Some(ResultCode::$name),)* _ => None }
            }
        }
    };
}

result_codes! {
    /// Verification passed.
    Pass = 0, "pass", 200, "Verification passed", "核验通过";

    /// The QR text is not a wangzheng QR or is corrupted.
    QrMalformed = 1001, "qr_malformed", 400, "QR code is malformed", "网证二维码格式错误";
    /// The QR was made outside the freshness window.
    QrExpired = 1002, "qr_expired", 200, "QR code has expired; refresh it in the wallet", "网证二维码已过期，请刷新";
    /// The QR (its nonce or counter) was presented before.
    QrReplayed = 1003, "qr_replayed", 200, "QR code was already used", "网证二维码已被使用";
    /// The QR is encrypted to a platform key the platform no longer holds.
    QrUnknownKey = 1004, "qr_unknown_key", 200, "QR code was made for an unknown or retired platform key", "网证二维码密钥无效";
    /// The device signature inside the QR does not verify.
    QrSignatureInvalid = 1005, "qr_signature_invalid", 200, "QR code signature is invalid", "网证二维码签名无效";
    /// The QR format version is not supported.
    QrVersionUnsupported = 1006, "qr_version_unsupported", 400, "QR code version is not supported", "网证二维码版本不受支持";

    /// The credential was revoked.
    CredentialRevoked = 2001, "credential_revoked", 200, "Credential has been revoked", "网证已注销";
    /// A newer device or card re-enrolment replaced this credential.
    CredentialSuperseded = 2002, "credential_superseded", 200, "Credential was replaced by a newer enrolment", "网证已被新的设备或证件替换";
    /// The citizen suspended the credential.
    CredentialSuspended = 2003, "credential_suspended", 200, "Credential is suspended", "网证已暂停使用";
    /// No credential with this id exists.
    CredentialNotFound = 2004, "credential_not_found", 200, "Credential not found", "网证不存在";
    /// The credential's validity period is over.
    CredentialExpired = 2005, "credential_expired", 200, "Credential has expired", "网证已过期";
    /// The credential certificate is malformed or its signature is invalid.
    CredentialInvalid = 2006, "credential_invalid", 400, "Credential certificate is invalid", "网证凭证无效";
    /// The mode needs an upgraded credential (the credential PIN belongs to it).
    CredentialLevelInsufficient = 2007, "credential_level_insufficient", 200, "This check needs an upgraded credential", "该业务需要升级版网证";
    /// Online (lightweight) enrolment never replaces a live upgraded credential.
    UpgradedCredentialHeld = 2008, "upgraded_credential_held", 200, "An upgraded credential is held: enrol again at a trusted terminal", "已持有升级版网证，请到可信终端重新办理";

    /// The live face does not match the registry photo.
    FaceMismatch = 3001, "face_mismatch", 200, "Face does not match", "人像比对不一致";
    /// Liveness was not shown.
    LivenessFailed = 3002, "liveness_failed", 200, "Liveness check failed", "活体检测未通过";
    /// The face image is too small, blurred, dark or turned away.
    FaceQualityLow = 3003, "face_quality_low", 200, "Face image quality is too low", "人像质量不合格";
    /// No face, or more than one face, in an image that needs exactly one.
    FaceNotFound = 3004, "face_not_found", 200, "Exactly one face must be visible", "未检测到唯一人脸";
    /// The credential PIN is wrong.
    PinWrong = 3005, "pin_wrong", 200, "Credential PIN is wrong", "网证口令错误";
    /// Too many wrong PINs; locked for a while.
    PinLocked = 3006, "pin_locked", 200, "Credential PIN is locked after too many wrong tries", "网证口令错误次数过多，已锁定";
    /// The four items do not match the registry.
    FourItemsMismatch = 3007, "four_items_mismatch", 200, "Identity items do not match the registry", "身份信息核验不一致";
    /// The two items do not match the registry.
    TwoItemsMismatch = 3008, "two_items_mismatch", 200, "Name and ID number do not match the registry", "姓名与身份号码不一致";
    /// The card chip data is malformed or its authority signature is invalid.
    CardDataInvalid = 3009, "card_data_invalid", 200, "ID card data is invalid", "证件芯片数据无效";
    /// The image is truncated, too large or not an image.
    ImageInvalid = 3010, "image_invalid", 400, "Image is invalid, truncated or too large", "图像无效";
    /// The ID card itself has expired.
    CardExpired = 3011, "card_expired", 200, "ID card has expired", "身份证件已过期";
    /// The live frame is a copy of the registry or card photo, not a capture.
    PresentationAttack = 3012, "presentation_attack", 200, "The face capture is not a live capture", "人像采集疑似伪造";
    /// One answer for every failure of "items + live face" where the items
    /// say who is claimed, so that no failure tells which part was wrong.
    IdentityNotConfirmed = 3013, "identity_not_confirmed", 200, "Identity could not be confirmed: check the details and capture the face again", "身份核验未通过，请核对信息并重新采集人像";

    /// The relying party is not registered.
    RpUnknown = 4001, "rp_unknown", 401, "Relying party is not registered", "应用方未注册";
    /// The relying party's key is revoked, expired or unknown.
    RpKeyInvalid = 4002, "rp_key_invalid", 401, "Relying party key is not valid", "应用方密钥无效";
    /// The relying party's request signature does not verify.
    RpSignatureInvalid = 4003, "rp_signature_invalid", 401, "Relying party signature is invalid", "应用方签名无效";
    /// The request timestamp is outside the allowed window.
    RequestExpired = 4004, "request_expired", 401, "Request timestamp is outside the allowed window", "请求时间戳无效";
    /// The request nonce was seen before.
    RequestReplayed = 4005, "request_replayed", 409, "Request was already received", "重复的请求";
    /// The relying party may not request this mode.
    ModeNotAllowed = 4006, "mode_not_allowed", 403, "Auth mode is not allowed for this relying party", "应用方无权使用该认证模式";
    /// Too many requests from this relying party.
    RateLimited = 4007, "rate_limited", 429, "Too many requests", "请求过于频繁";
    /// The request is malformed (bad JSON, missing field, bad encoding).
    RequestMalformed = 4008, "request_malformed", 400, "Request is malformed", "请求格式错误";
    /// The auth mode bits are unknown or empty.
    ModeInvalid = 4009, "mode_invalid", 400, "Auth mode is invalid", "认证模式无效";
    /// The request body is larger than allowed.
    BodyTooLarge = 4010, "body_too_large", 413, "Request body is too large", "请求内容过大";
    /// The caller's role does not allow this operation.
    RoleNotAllowed = 4011, "role_not_allowed", 403, "Caller's role does not allow this operation", "无权执行该操作";
    /// Data the mode needs (face frames, PIN, items, card) is missing.
    ModeDataMissing = 4012, "mode_data_missing", 400, "Data required by the auth mode is missing", "认证模式所需数据缺失";
    /// The operator token is missing or wrong.
    Unauthorized = 4013, "unauthorized", 401, "Not authorised", "未授权";

    /// No registry record matches.
    RegistryRecordNotFound = 5001, "registry_record_not_found", 200, "No matching registry record", "未找到户籍信息";
    /// The ID number is malformed or its check digit is wrong.
    IdNumberInvalid = 5002, "id_number_invalid", 400, "ID number is invalid", "身份号码格式错误";

    /// An unexpected internal error.
    InternalError = 9001, "internal_error", 500, "Internal error", "系统内部错误";
    /// The service is temporarily unavailable.
    Unavailable = 9002, "unavailable", 503, "Service temporarily unavailable", "服务暂不可用";
    /// A verdict's platform signature does not verify (seen by the RP SDK).
    VerdictSignatureInvalid = 9003, "verdict_signature_invalid", 502, "Platform verdict signature is invalid", "平台核验结果签名无效";
}

impl ResultCode {
    /// Whether this is a pass.
    #[must_use]
    pub const fn is_pass(self) -> bool {
        matches!(self, ResultCode::Pass)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

impl fmt::Debug for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResultCode({self})")
    }
}

/// JSON form: the snake_case name.
impl Serialize for ResultCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ResultCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ResultCode::from_name(&s).ok_or_else(|| serde::de::Error::custom("unknown result code"))
    }
}
