-- Where an account's inbound SMS are POSTed (Twilio's SmsUrl); "" for none.
ALTER TABLE accounts ADD COLUMN sms_url TEXT NOT NULL DEFAULT '';
