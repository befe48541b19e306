-- The QR counter a pass accepted, kept with its verdict (the counter and
-- the verdict are written in one statement, see `record_verification`).
ALTER TABLE verifications ADD COLUMN qr_counter BIGINT;
