#!/usr/bin/env node
// An independent SMSC for otpgate's tests, built on node-smpp (npm "smpp" 0.5.1).
//
// Usage: node smsc.js [--port N] [--system-id ID --password PW] [--hex-ids] [--first-id N]
// (or SMSC_SYSTEM_ID / SMSC_PASSWORD). Listens on 127.0.0.1 (port 0 by default).
// Controlled with JSON lines, one object a line; it exits when stdin closes.
//   stdout events: listening {port}; connect; bind; unbind; close; submit (every field
//     of the submit_sm, short_message_hex, tlvs {"0xTTTT": hex}, tlv_tags in wire
//     order, message_id, command_status); deliver_sm_resp {sequence_number,
//     command_status, kind "receipt"|"mo", message_id}; malformed; session_error.
//   stdin commands (optional "id" is echoed in the answer {"event":"ok"|"error",
//     "cmd", "id", ...}): receipt {message_id, stat, err, text_id, tlv_id, tlvs:false,
//     text, system_id}; throttle {every}; drop; mo {from, to, data_coding,
//     short_message_hex, udh_hex}; auto_receipt {stat ("" = off), err, delay_ms, before_resp
//     (the receipt goes before the submit_sm_resp, delay_ms unused)}.
// The Go side is ../smpptest.go.
//
// Raw octets: node-smpp decodes short_message (and message_payload) through a filter
// that turns the octets into {udh, message} with message decoded as text by
// data_coding. That decoding is lossy (GSM bytes it does not know become ' ', an odd
// UCS-2 length loses its last byte, UDH is split into elements), so this script never
// reports the decoded value. It keeps the exact bytes of every incoming PDU by
// wrapping PDU.prototype.fromBuffer, the one function every PDU read from a socket
// goes through, and walks the submit_sm body itself from those bytes.
'use strict';

const readline = require('readline');
const smpp = require('smpp');

const PDU = smpp.PDU;
const origFromBuffer = PDU.prototype.fromBuffer;
PDU.prototype.fromBuffer = function (buffer) {
	Object.defineProperty(this, 'rawBytes', {value: Buffer.from(buffer), enumerable: false});
	return origFromBuffer.call(this, buffer);
};

// ---- options ----

function parseArgs(argv) {
	const o = {
		port: 0,
		systemID: process.env.SMSC_SYSTEM_ID || '',
		password: process.env.SMSC_PASSWORD || '',
		hexIDs: false,
		firstID: 1,
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) throw new Error('missing value for ' + a);
			return argv[++i];
		};
		switch (a) {
		case '--port': o.port = Number(next()); break;
		case '--system-id': o.systemID = next(); break;
		case '--password': o.password = next(); break;
		case '--hex-ids': o.hexIDs = true; break;
		case '--first-id': o.firstID = Number(next()); break;
		default: throw new Error('unknown argument ' + a);
		}
	}
	if (!Number.isSafeInteger(o.firstID) || o.firstID < 0) throw new Error('bad --first-id');
	return o;
}

const opts = parseArgs(process.argv.slice(2));

function emit(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

// ---- state ----

const MESSAGE_STATE = {
	SCHEDULED: 0, ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4,
	UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8, SKIPPED: 9,
};

let nextID = opts.firstID;
const messages = new Map(); // message_id -> what a receipt needs
let throttleEvery = 0;
let throttleCount = 0;
let autoReceipt = null; // {stat, err, delayMs, beforeResp}
let sessionSeq = 0;

function formatID(n) {
	return opts.hexIDs ? n.toString(16) : String(n);
}

function hex(buf) {
	return Buffer.from(buf).toString('hex');
}

function tagKey(tag) {
	return '0x' + tag.toString(16).padStart(4, '0');
}

// ---- raw submit_sm parsing ----

// parseSubmitSM walks a submit_sm body (SMPP 3.4 section 4.4.1) from the raw PDU bytes.
function parseSubmitSM(raw) {
	const length = raw.readUInt32BE(0);
	if (length !== raw.length) throw new Error('command_length ' + length + ' != ' + raw.length);
	let off = 16;
	const need = (n) => {
		if (off + n > length) throw new Error('truncated at offset ' + off);
	};
	const u8 = () => { need(1); return raw[off++]; };
	const cstr = (max) => {
		const end = raw.indexOf(0, off);
		if (end < 0 || end >= length) throw new Error('unterminated C-Octet String at offset ' + off);
		if (end - off >= max) throw new Error('C-Octet String too long at offset ' + off);
		const s = raw.toString('latin1', off, end);
		off = end + 1;
		return s;
	};
	const m = {};
	m.service_type = cstr(6);
	m.source_addr_ton = u8();
	m.source_addr_npi = u8();
	m.source_addr = cstr(21);
	m.dest_addr_ton = u8();
	m.dest_addr_npi = u8();
	m.destination_addr = cstr(21);
	m.esm_class = u8();
	m.protocol_id = u8();
	m.priority_flag = u8();
	m.schedule_delivery_time = cstr(17);
	m.validity_period = cstr(17);
	m.registered_delivery = u8();
	m.replace_if_present_flag = u8();
	m.data_coding = u8();
	m.sm_default_msg_id = u8();
	const smLength = u8();
	need(smLength);
	m.short_message = raw.subarray(off, off + smLength);
	off += smLength;
	m.tlvs = {};
	m.tlv_tags = [];
	while (off < length) {
		need(4);
		const tag = raw.readUInt16BE(off);
		const len = raw.readUInt16BE(off + 2);
		off += 4;
		need(len);
		m.tlvs[tagKey(tag)] = hex(raw.subarray(off, off + len));
		m.tlv_tags.push(tagKey(tag));
		off += len;
	}
	return m;
}

// ---- sessions ----

function canReceive(s) {
	return !s.destroyedByUs && !s.socket.destroyed &&
		(s.bound === 'receiver' || s.bound === 'transceiver');
}

function receiverFor(systemID, preferred) {
	if (preferred && canReceive(preferred) && (!systemID || preferred.systemID === systemID)) {
		return preferred;
	}
	for (const s of server.sessions) {
		if (canReceive(s) && (!systemID || s.systemID === systemID)) return s;
	}
	return null;
}

function yymmddhhmm(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
		p(d.getUTCHours()) + p(d.getUTCMinutes());
}

// sendDeliver sends a deliver_sm and remembers what it was for, so that the
// deliver_sm_resp event can name it.
function sendDeliver(session, params, kind, messageID) {
	const pdu = new PDU('deliver_sm', params);
	if (!session.send(pdu)) throw new Error('session is not writable');
	session.pending.set(pdu.sequence_number, {kind, message_id: messageID});
	return pdu.sequence_number;
}

function sendReceipt(c) {
	const messageID = c.message_id === undefined ? '' : String(c.message_id);
	const msg = messages.get(messageID);
	const systemID = c.system_id || (msg ? msg.system_id : '');
	const session = receiverFor(systemID, msg ? msg.session : null);
	if (!session) {
		throw new Error('no bound receiver or transceiver session' +
			(systemID ? ' for system_id ' + JSON.stringify(systemID) : ''));
	}
	const stat = c.stat || 'DELIVRD';
	const err = c.err === undefined ? '000' : String(c.err);
	const textID = c.text_id === undefined ? messageID : String(c.text_id);
	const tlvID = c.tlv_id === undefined ? messageID : String(c.tlv_id);
	const now = new Date();
	const submitted = msg ? msg.submitted : now;
	let text = c.text;
	if (text === undefined) {
		text = 'id:' + textID + ' sub:001 dlvrd:' + (stat === 'DELIVRD' ? '001' : '000') +
			' submit date:' + yymmddhhmm(submitted) + ' done date:' + yymmddhhmm(now) +
			' stat:' + stat + ' err:' + err + ' text:' + (msg ? msg.text : '');
	}
	const params = {
		source_addr_ton: msg ? msg.dest_addr_ton : 1,
		source_addr_npi: msg ? msg.dest_addr_npi : 1,
		source_addr: msg ? msg.destination_addr : '',
		dest_addr_ton: msg ? msg.source_addr_ton : 0,
		dest_addr_npi: msg ? msg.source_addr_npi : 0,
		destination_addr: msg ? msg.source_addr : '',
		esm_class: 0x04,
		data_coding: 0,
		short_message: Buffer.from(text, 'latin1'),
	};
	if (c.tlvs !== false) {
		let state = c.message_state;
		if (state === undefined) state = MESSAGE_STATE[stat];
		if (state === undefined) state = MESSAGE_STATE.UNKNOWN;
		params.receipted_message_id = tlvID;
		params.message_state = state;
	}
	return sendDeliver(session, params, 'receipt', messageID);
}

// receiptText is the "text:" field of a receipt: the first 20 characters of a
// GSM/ASCII body without UDH, or nothing.
function receiptText(m) {
	if (m.esm_class & 0x40) return '';
	if (m.data_coding !== 0 && m.data_coding !== 1) return '';
	const b = m.short_message.subarray(0, 20);
	for (const c of b) if (c < 0x20 || c > 0x7e) return '';
	return b.toString('latin1');
}

function onSubmit(session, pdu) {
	const raw = pdu.rawBytes;
	if (!raw) {
		emit({event: 'malformed', command: 'submit_sm', error: 'raw bytes were not captured'});
		session.send(pdu.response({command_status: smpp.ESME_RSYSERR}));
		return;
	}
	if (!session.bound || session.bound === 'receiver') {
		session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
		emit({event: 'rejected', command: 'submit_sm', sequence_number: pdu.sequence_number,
			command_status: smpp.ESME_RINVBNDSTS, reason: 'not bound to transmit'});
		return;
	}
	let m;
	try {
		m = parseSubmitSM(raw);
	} catch (e) {
		session.send(pdu.response({command_status: smpp.ESME_RINVCMDLEN}));
		emit({event: 'malformed', command: 'submit_sm', sequence_number: pdu.sequence_number,
			error: e.message, pdu_hex: hex(raw)});
		return;
	}
	// Self-check: node-smpp's own reading of the scalar fields must agree with ours.
	for (const k of ['source_addr_ton', 'source_addr_npi', 'dest_addr_ton', 'dest_addr_npi',
		'esm_class', 'data_coding', 'registered_delivery']) {
		if (pdu[k] !== m[k]) {
			emit({event: 'malformed', command: 'submit_sm', sequence_number: pdu.sequence_number,
				error: 'node-smpp read ' + k + '=' + pdu[k] + ', raw walk read ' + m[k],
				pdu_hex: hex(raw)});
		}
	}
	let status = 0;
	let messageID = '';
	if (throttleEvery > 0 && ++throttleCount % throttleEvery === 0) {
		status = smpp.ESME_RTHROTTLED;
		session.send(pdu.response({command_status: status}));
	} else {
		messageID = formatID(nextID++);
		messages.set(messageID, {
			session,
			system_id: session.systemID,
			source_addr: m.source_addr,
			source_addr_ton: m.source_addr_ton,
			source_addr_npi: m.source_addr_npi,
			destination_addr: m.destination_addr,
			dest_addr_ton: m.dest_addr_ton,
			dest_addr_npi: m.dest_addr_npi,
			submitted: new Date(),
			text: receiptText(m),
		});
		// An SMSC may send a receipt before the submit_sm_resp that names
		// its id (auto_receipt's before_resp).
		if (autoReceipt && autoReceipt.beforeResp && wantsReceipt(m, autoReceipt)) {
			autoReceiptFor(messageID, autoReceipt);
		}
		session.send(pdu.response({message_id: messageID}));
	}
	emit({
		event: 'submit',
		sequence_number: pdu.sequence_number,
		command_status: status,
		message_id: messageID,
		system_id: session.systemID,
		service_type: m.service_type,
		source_addr: m.source_addr,
		source_addr_ton: m.source_addr_ton,
		source_addr_npi: m.source_addr_npi,
		destination_addr: m.destination_addr,
		dest_addr_ton: m.dest_addr_ton,
		dest_addr_npi: m.dest_addr_npi,
		esm_class: m.esm_class,
		protocol_id: m.protocol_id,
		priority_flag: m.priority_flag,
		schedule_delivery_time: m.schedule_delivery_time,
		validity_period: m.validity_period,
		registered_delivery: m.registered_delivery,
		data_coding: m.data_coding,
		short_message_hex: hex(m.short_message),
		tlvs: m.tlvs,
		tlv_tags: m.tlv_tags,
	});
	if (status === 0 && autoReceipt && !autoReceipt.beforeResp && wantsReceipt(m, autoReceipt)) {
		const a = autoReceipt;
		setTimeout(() => autoReceiptFor(messageID, a), a.delayMs);
	}
}

// wantsReceipt: the submit_sm's registered_delivery asks for a receipt with
// auto_receipt a's stat (bits 0-1: 1 always, 2 on failure only).
function wantsReceipt(m, a) {
	const want = m.registered_delivery & 0x03;
	return want === 1 || (want === 2 && a.stat !== 'DELIVRD');
}

function autoReceiptFor(messageID, a) {
	try {
		const seq = sendReceipt({message_id: messageID, stat: a.stat, err: a.err});
		emit({event: 'auto_receipt', message_id: messageID, sequence_number: seq});
	} catch (e) {
		emit({event: 'auto_receipt_error', message_id: messageID, error: e.message});
	}
}

const BIND_MODE = {
	bind_transmitter: 'transmitter',
	bind_receiver: 'receiver',
	bind_transceiver: 'transceiver',
};

const HANDLED = new Set(['bind_transmitter', 'bind_receiver', 'bind_transceiver',
	'enquire_link', 'unbind', 'submit_sm', 'deliver_sm_resp', 'enquire_link_resp',
	'unbind_resp', 'generic_nack']);

function onSession(session) {
	session.id = ++sessionSeq;
	session.bound = null;
	session.systemID = '';
	session.pending = new Map();
	emit({event: 'connect', session: session.id});

	for (const cmd of Object.keys(BIND_MODE)) {
		session.on(cmd, (pdu) => {
			let status = 0;
			if (session.bound) {
				status = smpp.ESME_RALYBND;
			} else if (opts.systemID && (pdu.system_id !== opts.systemID || pdu.password !== opts.password)) {
				status = smpp.ESME_RBINDFAIL;
			}
			if (status === 0) {
				session.bound = BIND_MODE[cmd];
				session.systemID = pdu.system_id;
				session.send(pdu.response({system_id: 'smpptest'}));
			} else {
				session.send(pdu.response({command_status: status}));
			}
			emit({event: 'bind', session: session.id, command: cmd, system_id: pdu.system_id,
				command_status: status});
		});
	}
	session.on('enquire_link', (pdu) => {
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		session.send(pdu.response(), () => session.close());
		session.bound = null;
		emit({event: 'unbind', session: session.id, system_id: session.systemID});
	});
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('deliver_sm_resp', (pdu) => {
		const p = session.pending.get(pdu.sequence_number) || {};
		session.pending.delete(pdu.sequence_number);
		emit({event: 'deliver_sm_resp', session: session.id, sequence_number: pdu.sequence_number,
			command_status: pdu.command_status, kind: p.kind || '', message_id: p.message_id || ''});
	});
	session.on('pdu', (pdu) => {
		if (HANDLED.has(pdu.command) || pdu.isResponse()) return;
		// generic_nack for unknown commands; ESME_RINVCMDID for the rest.
		session.send(pdu.response(pdu.command === 'unknown' ? {} : {command_status: smpp.ESME_RINVCMDID}));
		emit({event: 'unhandled', session: session.id, command: pdu.command,
			command_id: pdu.command_id, sequence_number: pdu.sequence_number});
	});
	session.on('error', (e) => {
		emit({event: 'session_error', session: session.id, error: e.message});
		session.destroy();
	});
	session.on('close', () => {
		emit({event: 'close', session: session.id, system_id: session.systemID});
	});
}

// ---- commands ----

const commands = {
	receipt(c) {
		return {sequence_number: sendReceipt(c)};
	},
	throttle(c) {
		const every = Number(c.every || 0);
		if (!Number.isInteger(every) || every < 0) throw new Error('bad every');
		throttleEvery = every;
		throttleCount = 0;
		return {};
	},
	drop() {
		const all = server.sessions.slice();
		for (const s of all) {
			s.destroyedByUs = true;
			s.destroy();
		}
		return {sessions: all.length};
	},
	mo(c) {
		const session = receiverFor(c.system_id || '', null);
		if (!session) throw new Error('no bound receiver or transceiver session');
		const sm = Buffer.from(c.short_message_hex || '', 'hex');
		const udh = Buffer.from(c.udh_hex || '', 'hex');
		const body = Buffer.concat([udh, sm]);
		if (body.length > 254) throw new Error('short_message longer than 254 octets');
		const seq = sendDeliver(session, {
			source_addr_ton: c.from_ton === undefined ? 1 : c.from_ton,
			source_addr_npi: c.from_npi === undefined ? 1 : c.from_npi,
			source_addr: String(c.from || ''),
			dest_addr_ton: c.to_ton === undefined ? 1 : c.to_ton,
			dest_addr_npi: c.to_npi === undefined ? 1 : c.to_npi,
			destination_addr: String(c.to || ''),
			esm_class: udh.length ? 0x40 : 0x00,
			data_coding: Number(c.data_coding || 0),
			short_message: body,
		}, 'mo', '');
		return {sequence_number: seq};
	},
	auto_receipt(c) {
		if (!c.stat) {
			autoReceipt = null;
		} else {
			autoReceipt = {stat: String(c.stat), err: c.err === undefined ? '000' : String(c.err),
				delayMs: Number(c.delay_ms || 0), beforeResp: Boolean(c.before_resp)};
		}
		return {};
	},
};

function onCommandLine(line) {
	if (!line.trim()) return;
	let c;
	try {
		c = JSON.parse(line);
	} catch (e) {
		emit({event: 'error', error: 'bad JSON: ' + e.message});
		return;
	}
	const reply = {cmd: c.cmd};
	if (c.id !== undefined) reply.id = c.id;
	const fn = Object.prototype.hasOwnProperty.call(commands, c.cmd) ? commands[c.cmd] : null;
	if (!fn) {
		emit(Object.assign({event: 'error', error: 'unknown command'}, reply));
		return;
	}
	try {
		emit(Object.assign({event: 'ok'}, reply, fn(c)));
	} catch (e) {
		emit(Object.assign({event: 'error', error: e.message}, reply));
	}
}

// ---- main ----

const server = smpp.createServer(onSession);
server.on('error', (e) => {
	emit({event: 'fatal', error: e.message});
	process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
	emit({event: 'listening', port: server.address().port});
});

const rl = readline.createInterface({input: process.stdin, terminal: false});
rl.on('line', onCommandLine);
rl.on('close', () => {
	for (const s of server.sessions.slice()) s.destroy();
	server.close();
	process.exit(0);
});
