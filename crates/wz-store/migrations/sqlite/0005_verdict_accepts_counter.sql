-- The QR counter a pass accepted, kept with its verdict. Inserting a
-- verification that carries one moves the credential's counter in the same
-- statement (the trigger below), or fails the whole statement when the
-- counter is no longer above the last one accepted or the credential is no
-- longer active: one statement, so the counter never moves without its
-- verdict and the single writer is never held across round trips.
ALTER TABLE verifications ADD COLUMN qr_counter INTEGER;

CREATE TRIGGER verification_accepts_qr_counter
AFTER INSERT ON verifications
WHEN NEW.qr_counter IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'wz: QR counter not accepted')
    WHERE NOT EXISTS (
        SELECT 1 FROM credentials
        WHERE cred_id = NEW.cred_id AND status = 'active' AND last_counter < NEW.qr_counter
    );
    UPDATE credentials SET last_counter = NEW.qr_counter WHERE cred_id = NEW.cred_id;
END;
