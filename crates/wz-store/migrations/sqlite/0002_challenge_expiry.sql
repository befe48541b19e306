CREATE INDEX challenges_by_expiry ON challenges (expires_at);
