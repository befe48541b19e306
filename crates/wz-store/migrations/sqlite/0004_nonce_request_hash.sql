-- The request a claimed RP nonce belongs to (SM3 of its body), so that a
-- retry of a request whose first attempt left no verdict (the node or the
-- database died in between) can be answered instead of refused.
ALTER TABLE rp_nonces ADD COLUMN request_hash BLOB;
