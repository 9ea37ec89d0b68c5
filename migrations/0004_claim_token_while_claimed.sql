-- A delivery carries a claim token exactly while it is claimed. The acknowledgement is then
-- fenced by the token alone: with `status = 'claimed'` in its condition as well, PostgreSQL
-- reached the batch through the partial index of claimed deliveries and checked every row
-- of it against the batch's ids, instead of looking the ids up in the primary key.
-- Added unvalidated, then validated: the check of existing rows blocks no reader or writer.
ALTER TABLE deliveries ADD CONSTRAINT deliveries_token_while_claimed
  CHECK ((claim_token IS NOT NULL) = (status = 'claimed')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_token_while_claimed;
