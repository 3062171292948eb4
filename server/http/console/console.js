/*
 * console.js - berth's web console: the JSON gateway's POST /v1/<Method>
 * and nothing else.
 *
 * Rules this file keeps (the gateway's Content-Security-Policy enforces the
 * first ones): no inline scripts, styles or event handlers, no eval; every
 * string from the server reaches the page as text (textContent, text
 * nodes), never as HTML; the token lives in sessionStorage and travels only
 * as an Authorization: Bearer header (never a cookie, never a URL).
 *
 * Live updates: WatchEvents long polls resumed with their cursor; a server
 * that answers UNIMPLEMENTED is polled with ListServices instead. Logs:
 * GetServiceLogs with follow and cursor, or the tail read again when the
 * server does not follow.
 */
'use strict';

(function () {
	const TOKEN_KEY = 'berth.token';
	const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };
	const LONG_POLL_MS = 25000;      /* WatchEvents and log follow: wait_ms */
	const POLL_MS = 3000;            /* ListServices when there is no WatchEvents */
	const HEALTH_MS = 10000;
	const TEMPLATES_MS = 30000;
	const LIVE_MS = 10000;           /* GetService (uptime, CPU, memory) of running services */
	const LIVE_PARALLEL = 3;
	const LIVE_MAX = 50;             /* services whose live state is read */
	const BACKOFF_FIRST_MS = 1000;
	const BACKOFF_MAX_MS = 30000;
	const CALL_TIMEOUT_MS = 30000;
	const NETWORK_ATTEMPTS = 3;      /* a request the network dropped is sent again */
	const ACTION_TIMEOUT_MS = 120000;
	const EVENTS_SHOWN = 100;
	const LOG_CHARS_KEPT = 512 * 1024;

	const state = {
		token: '',
		role: '',
		generation: 0,           /* a new session stops the loops of the old one */
		services: new Map(),     /* service_id -> Service (ListServices) */
		live: new Map(),         /* service_id -> ContainerState (GetService) */
		rows: new Map(),         /* service_id -> { tr, cells, actionsKey } */
		templatesJson: '',
		templateCounts: new Map(), /* template name -> its "services" cell */
		refreshing: null,        /* the ListServices refresh in flight */
		refreshAgain: false,
		logs: null,              /* { serviceId, stop } of the open log panel */
		pendingRemove: null,
	};

	const $ = (id) => document.getElementById(id);

	/* --- the page, built from text ------------------------------------------------ */

	/* An element with properties (className, type, dataset...) and children (nodes or text). */
	function el(tag, props, ...children) {
		const node = document.createElement(tag);
		for (const [key, value] of Object.entries(props || {})) {
			if (key === 'dataset')
				Object.assign(node.dataset, value);
			else if (key === 'attrs')
				for (const [a, v] of Object.entries(value))
					node.setAttribute(a, v);
			else
				node[key] = value;
		}
		for (const child of children)
			if (child !== null && child !== undefined)
				node.append(child instanceof Node ? child : String(child));
		return node;
	}

	function setText(node, text) {
		text = String(text);
		if (node.textContent !== text)
			node.textContent = text;
	}

	let messageTimer = null;

	/* One visible message: an error (stays until dismissed) or a notice (fades). */
	function showMessage(text, kind) {
		const box = $('message');
		clearTimeout(messageTimer);
		box.className = kind === 'info' ? 'info' : 'error';
		setText($('message-text'), text);
		box.hidden = false;
		if (kind === 'info')
			messageTimer = setTimeout(() => { box.hidden = true; }, 6000);
	}

	function showError(what, err) {
		let text = what + ': ' + (err.code ? err.code + ': ' : '') + err.message;
		for (const d of err.details || []) {
			const parts = [d.field, d.reason, d.description].filter((p) => p);
			if (parts.length)
				text += '\n  ' + parts.join(' - ');
		}
		showMessage(text, 'error');
	}

	/* --- calls ------------------------------------------------------------------ */

	class ApiError extends Error {
		constructor(code, message, details, status) {
			super(message);
			this.code = code;
			this.details = Array.isArray(details) ? details : [];
			this.status = status;
		}
	}

	/* grpc-gateway's mapping, read backwards, for answers without a JSON body. */
	function codeOfStatus(status) {
		return { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
			404: 'NOT_FOUND', 409: 'ABORTED', 429: 'RESOURCE_EXHAUSTED', 501: 'UNIMPLEMENTED',
			503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' }[status] || 'UNKNOWN';
	}

	/* A fresh Idempotency-Key per action (crypto.randomUUID needs a secure context). */
	function requestId() {
		const bytes = new Uint8Array(16);
		crypto.getRandomValues(bytes);
		return 'console-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
	}

	/* One POST; resolves with the response and its text, or rejects with an ApiError. */
	async function post(method, headers, body, timeoutMs) {
		const abort = new AbortController();
		const timer = setTimeout(() => abort.abort(), timeoutMs + 5000);
		try {
			const response = await fetch('/v1/' + method, { method: 'POST', headers, body,
				signal: abort.signal, credentials: 'omit', cache: 'no-store', redirect: 'error' });
			return { response, text: await response.text() };
		} catch (e) {
			const err = new ApiError('UNAVAILABLE', abort.signal.aborted
				? 'berthd did not answer in time' : 'cannot reach berthd', [], 0);
			err.dropped = !abort.signal.aborted;
			throw err;
		} finally {
			clearTimeout(timer);
		}
	}

	/*
	 * POST /v1/<method> with `request` as JSON. Resolves with the response
	 * message; rejects with an ApiError (code, message, details) for an
	 * error answer, a network failure (UNAVAILABLE) or no answer in time.
	 * A request the network dropped (the browser saw no answer at all) is
	 * sent again a few times with the same Idempotency-Key, so that a
	 * mutating call runs once even if the first one did reach berthd.
	 */
	async function call(method, request, opts) {
		opts = opts || {};
		const timeoutMs = opts.timeoutMs || CALL_TIMEOUT_MS;
		const headers = { 'Content-Type': 'application/json', 'X-Berth-Timeout-Ms': String(timeoutMs) };
		const token = opts.token !== undefined ? opts.token : state.token;
		if (token)
			headers.Authorization = 'Bearer ' + token;
		if (opts.mutating)
			headers['Idempotency-Key'] = requestId();
		const payload = JSON.stringify(request || {});
		let response, text;
		for (let attempt = 1; ; attempt++) {
			try {
				({ response, text } = await post(method, headers, payload, timeoutMs));
				break;
			} catch (err) {
				if (attempt >= NETWORK_ATTEMPTS || !err.dropped)
					throw err;
				await sleep(500 * attempt);
			}
		}
		let body = null;
		try {
			body = text ? JSON.parse(text) : {};
		} catch (e) {
			body = null;
		}
		if (!response.ok) {
			if (body && typeof body.code === 'string')
				throw new ApiError(body.code, String(body.message || ''), body.details, response.status);
			throw new ApiError(codeOfStatus(response.status), 'HTTP ' + response.status, [], response.status);
		}
		if (body === null || typeof body !== 'object')
			throw new ApiError('INTERNAL', 'the answer was not JSON', [], response.status);
		return body;
	}

	function sleep(ms) {
		return new Promise((resolve) => setTimeout(resolve, ms));
	}

	/* Exponential backoff with jitter: 1 s, 2 s, ... 30 s. */
	function nextBackoff(ms) {
		return Math.min(BACKOFF_MAX_MS, ms * 2);
	}

	function jittered(ms) {
		return ms / 2 + Math.random() * ms / 2;
	}

	/* --- formatting -------------------------------------------------------------- */

	function formatBytes(n) {
		n = Number(n) || 0;
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) {
			n /= 1024;
			i++;
		}
		return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
	}

	function formatDuration(seconds) {
		seconds = Math.max(0, Math.floor(seconds));
		const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
		const m = Math.floor(seconds / 60) % 60, s = seconds % 60;
		if (d > 0)
			return d + 'd ' + h + 'h';
		if (h > 0)
			return h + 'h ' + m + 'm';
		if (m > 0)
			return m + 'm ' + s + 's';
		return s + 's';
	}

	/* A service's URL as a link target: http(s) only; a wildcard address becomes this page's host. */
	function serviceHref(url) {
		let u;
		try {
			u = new URL(String(url));
		} catch (e) {
			return null;
		}
		if (u.protocol !== 'http:' && u.protocol !== 'https:')
			return null;
		if (u.hostname === '0.0.0.0' || u.hostname === '[::]')
			u.hostname = window.location.hostname;
		return u.href;
	}

	function eventLabel(type) {
		return String(type || '').replace(/^SERVICE_/, '').replace(/_/g, ' ').toLowerCase();
	}

	/* --- health and role ----------------------------------------------------------- */

	function applyHealth(h) {
		const serving = h.status === 'SERVING';
		setText($('server-status'), serving ? 'serving' : String(h.status || 'unknown').toLowerCase());
		setText($('server-version'), h.version || '–');
		/* "up (docker 20.10.24, API 1.41)"; the engine may be Podman. */
		const about = [h.engine, h.docker_api_version ? 'API ' + h.docker_api_version : '']
			.filter(Boolean).join(', ');
		setText($('docker-status'), h.docker_available
			? 'up' + (about ? ' (' + about + ')' : '')
			: 'not answering');
	}

	function canOperate() {
		return (ROLE_RANK[state.role] || 0) >= ROLE_RANK.operator;
	}

	function setLive(text) {
		setText($('live'), text);
	}

	/* Called when berthd stops accepting the token: back to the sign-in form. */
	function tokenRefused(err) {
		sessionStorage.removeItem(TOKEN_KEY);
		state.token = '';
		endSession();
		showError('Signed out', err);
		boot();
	}

	/* A failed read: a refused token ends the session, anything else is shown. */
	function readFailed(what, err) {
		if (err.code === 'UNAUTHENTICATED' && state.token)
			tokenRefused(err);
		else
			showError(what, err);
	}

	/* --- services ------------------------------------------------------------------- */

	/* Reads ListServices and GetStats again; calls made meanwhile are folded into one more. */
	function refreshServices() {
		if (state.refreshing) {
			state.refreshAgain = true;
			return state.refreshing;
		}
		const gen = state.generation;
		state.refreshing = (async () => {
			try {
				do {
					state.refreshAgain = false;
					const [list, stats] = await Promise.all([call('ListServices', {}), call('GetStats', {})]);
					if (gen !== state.generation)
						return;
					state.services = new Map((list.services || []).map((s) => [s.service_id, s]));
					renderServices();
					renderStats(stats);
				} while (state.refreshAgain);
			} finally {
				state.refreshing = null;
			}
		})();
		return state.refreshing;
	}

	function renderStats(stats) {
		setText($('stat-total'), stats.total_services || 0);
		setText($('stat-running'), stats.running_services || 0);
		setText($('stat-stopped'), stats.stopped_services || 0);
		const ports = stats.used_ports || [];
		setText($('stat-ports'), ports.length ? ports.join(', ') : 'none');
		const counts = new Map((stats.templates || []).map((t) => [t.template, t]));
		for (const [name, cell] of state.templateCounts) {
			const c = counts.get(name);
			setText(cell, c ? c.running + ' running / ' + c.total : '0');
		}
	}

	function serviceRow(id) {
		let row = state.rows.get(id);
		if (row)
			return row;
		const cells = {};
		const tr = el('tr', { dataset: { service: id } });
		for (const name of ['id', 'status', 'health', 'port', 'uptime', 'restarts', 'cpu', 'memory', 'actions']) {
			cells[name] = el('td', { className: name + (['restarts', 'cpu', 'memory', 'uptime'].includes(name) ? ' num' : '') });
			tr.append(cells[name]);
		}
		cells.id.append(el('span', { className: 'service-id' }, id));
		row = { tr, cells, actionsKey: null, portKey: null };
		state.rows.set(id, row);
		return row;
	}

	function renderServices() {
		const tbody = $('services').tBodies[0];
		const ids = Array.from(state.services.keys()).sort();
		for (const [id, row] of state.rows)
			if (!state.services.has(id)) {
				row.tr.remove();
				state.rows.delete(id);
				state.live.delete(id);
			}
		let previous = null;
		for (const id of ids) {
			const row = serviceRow(id);
			updateRow(row, state.services.get(id));
			const expected = previous ? previous.nextSibling : tbody.firstChild;
			if (expected !== row.tr)
				tbody.insertBefore(row.tr, expected);
			previous = row.tr;
		}
		$('services-empty').hidden = ids.length > 0;
	}

	function updateRow(row, s) {
		const c = row.cells;
		const status = String(s.status || '');
		/* Swarm: where its running tasks are (Service.nodes), beside the status. */
		const nodes = Array.isArray(s.nodes) ? s.nodes.join(',') : '';
		setText(c.status, status + (nodes ? ' on ' + nodes : ''));
		c.status.className = 'status status-' + status.replace(/[^a-z]/g, '');
		c.status.title = nodes ? 'nodes: ' + nodes : '';
		const health = String(s.health || 'none');
		setText(c.health, health + (s.supervisor && s.supervisor !== 'ok' ? ' (' + s.supervisor + ')' : ''));
		c.health.className = 'health health-' + health.replace(/[^a-z]/g, '');
		c.health.title = s.health_message || '';
		const portKey = s.port + ' ' + s.url;
		if (row.portKey !== portKey) {
			row.portKey = portKey;
			const href = serviceHref(s.url);
			c.port.replaceChildren(href
				? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, s.port)
				: String(s.port));
		}
		setText(c.restarts, s.restarts || 0);
		updateLiveCells(row, s);
		const key = canOperate() + ' ' + status + ' ' + s.desired_state;
		if (row.actionsKey !== key) {
			row.actionsKey = key;
			c.actions.replaceChildren(...actionButtons(s));
		}
	}

	/* Uptime, CPU and memory: only GetService carries the container's live state. */
	function updateLiveCells(row, s) {
		const live = state.live.get(s.service_id);
		const c = row.cells;
		if (!live || s.status !== 'running' || live.state !== 'running') {
			setText(c.uptime, '–');
			setText(c.cpu, '–');
			setText(c.memory, '–');
			return;
		}
		const started = Date.parse(live.started_at || '');
		setText(c.uptime, isNaN(started) ? '–' : formatDuration((Date.now() - started) / 1000));
		setText(c.cpu, (Number(live.cpu_percent) || 0).toFixed(1) + ' %');
		const limit = Number(live.memory_limit_bytes) || 0;
		setText(c.memory, formatBytes(live.memory_bytes) + (limit ? ' / ' + formatBytes(limit) : ''));
	}

	function actionButtons(s) {
		if (!canOperate())
			return [];
		const id = s.service_id;
		const running = s.status === 'running';
		const buttons = [];
		if (running)
			buttons.push(actionButton('Stop', 'stop', () => runAction('Stop ' + id, 'StopService', { service_id: id }, 'Stopped ' + id)));
		buttons.push(actionButton(running ? 'Restart' : 'Start', 'restart',
			() => runAction((running ? 'Restart ' : 'Start ') + id, 'RestartService', { service_id: id },
				(running ? 'Restarted ' : 'Started ') + id)));
		buttons.push(actionButton('Remove', 'remove', () => confirmRemove(id), 'danger'));
		buttons.push(actionButton('Logs', 'logs', () => openLogs(id)));
		return buttons;
	}

	function actionButton(label, action, onClick, className) {
		const b = el('button', { type: 'button', className: className || '', dataset: { action } }, label);
		b.addEventListener('click', async () => {
			b.disabled = true;
			try {
				await onClick();
			} finally {
				b.disabled = false;
			}
		});
		return b;
	}

	/* A mutating call from a button: the outcome is always shown, then the services re-read. */
	async function runAction(what, method, request, done) {
		try {
			await call(method, request, { mutating: true, timeoutMs: ACTION_TIMEOUT_MS });
			showMessage(done, 'info');
		} catch (err) {
			if (err.code === 'UNAUTHENTICATED' && state.token)
				tokenRefused(err);
			else
				showError(what + ' failed', err);
			return false;
		} finally {
			refreshServices().catch((e) => readFailed('Reading the services', e));
		}
		return true;
	}

	function confirmRemove(id) {
		const dialog = $('confirm');
		state.pendingRemove = id;
		setText($('confirm-text'), 'Remove ' + id + '? Its container is deleted; its port is released.');
		$('confirm-purge').checked = false;
		dialog.showModal();
	}

	/* --- live state of running services (GetService) --------------------------------- */

	async function liveLoop(gen) {
		while (gen === state.generation) {
			const running = Array.from(state.services.values())
				.filter((s) => s.status === 'running').slice(0, LIVE_MAX);
			const queue = running.map((s) => s.service_id);
			const worker = async () => {
				while (queue.length && gen === state.generation) {
					const id = queue.shift();
					try {
						const r = await call('GetService', { service_id: id });
						if (gen === state.generation && r.service && r.service.container)
							state.live.set(id, r.service.container);
					} catch (e) {
						state.live.delete(id);
					}
				}
			};
			await Promise.all(Array.from({ length: LIVE_PARALLEL }, worker));
			if (gen !== state.generation)
				return;
			for (const [id, row] of state.rows)
				if (state.services.has(id))
					updateLiveCells(row, state.services.get(id));
			await sleep(LIVE_MS);
		}
	}

	/* Uptime moves on between reads. */
	function tickUptime() {
		for (const [id, row] of state.rows) {
			const s = state.services.get(id);
			if (s)
				updateLiveCells(row, s);
		}
	}

	/* --- templates ------------------------------------------------------------------- */

	async function refreshTemplates() {
		const r = await call('ListTemplates', {});
		const templates = r.templates || [];
		const json = JSON.stringify([templates, canOperate()]);
		if (json === state.templatesJson)
			return;
		state.templatesJson = json;
		const tbody = $('templates').tBodies[0];
		state.templateCounts.clear();
		tbody.replaceChildren(...templates.map(templateRow));
		$('templates-empty').hidden = templates.length > 0;
		refreshServices().catch((e) => readFailed('Reading the services', e));
	}

	function templateRow(t) {
		const end = t.port_range_end || 65535;
		const count = el('td', { className: 'count' }, '–');
		state.templateCounts.set(t.name, count);
		const tr = el('tr', { dataset: { template: t.name } },
			el('td', { className: 'name' }, t.name),
			el('td', { className: 'desc' }, t.description || ''),
			el('td', { className: 'image' }, t.image || ''),
			el('td', { className: 'ports' }, t.port_range_start + '–' + end),
			count);
		if (canOperate())
			tr.append(el('td', { className: 'operator-only' }, launchForm(t)),
				el('td', { className: 'operator-only' }, scaleForm(t)));
		return tr;
	}

	function launchForm(t) {
		const instance = el('input', { type: 'text', name: 'instance', placeholder: 'instance (auto)',
			autocomplete: 'off', spellcheck: false, maxLength: 63 });
		const port = el('input', { type: 'number', name: 'port', placeholder: 'port (auto)',
			className: 'small', min: 1, max: 65535 });
		const button = el('button', { type: 'submit', dataset: { action: 'launch' } }, 'Launch');
		/* novalidate: berthd judges the input, and its error says why. */
		const form = el('form', { className: 'inline launch', noValidate: true }, instance, port, button);
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const request = { template: t.name, instance: instance.value.trim() };
			if (port.value !== '')
				request.port = Number(port.value);
			button.disabled = true;
			try {
				if (await runAction('Launch of ' + t.name, 'LaunchService', request,
					'Launched ' + t.name + (request.instance ? '_' + request.instance : ''))) {
					instance.value = '';
					port.value = '';
				}
			} finally {
				button.disabled = false;
			}
		});
		return form;
	}

	function scaleForm(t) {
		const count = el('input', { type: 'number', name: 'instances', className: 'small', min: 0,
			max: 1000, placeholder: 'N' });
		const button = el('button', { type: 'submit', dataset: { action: 'scale' } }, 'Scale');
		const form = el('form', { className: 'inline scale', noValidate: true }, count, button);
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			if (count.value === '') {
				showMessage('Scale ' + t.name + ': how many instances?', 'error');
				return;
			}
			button.disabled = true;
			try {
				await runAction('Scale of ' + t.name, 'ScaleTemplate',
					{ template: t.name, instances: Number(count.value) },
					'Scaled ' + t.name + ' to ' + count.value);
			} finally {
				button.disabled = false;
			}
		});
		return form;
	}

	/* --- events ------------------------------------------------------------------------ */

	function addEvents(events) {
		const list = $('events');
		for (const e of events) {
			const time = String(e.time || '').replace(/^.*T/, '').replace(/\..*$|Z$/, '');
			list.prepend(el('li', { dataset: { sequence: String(e.sequence) } },
				el('span', { className: 'time' }, time),
				el('span', { className: 'type' }, eventLabel(e.type)),
				el('span', { className: 'subject' }, e.service_id || ''),
				e.message ? el('span', { className: 'muted' }, ' ' + e.message) : null));
		}
		while (list.children.length > EVENTS_SHOWN)
			list.lastElementChild.remove();
	}

	/* An event says the service's status after it: shown at once, the rest follows the re-read. */
	function applyEvents(events) {
		for (const e of events) {
			const s = state.services.get(e.service_id);
			if (s && e.status) {
				s.status = e.status;
				const row = state.rows.get(e.service_id);
				if (row)
					updateRow(row, s);
			}
		}
	}

	/*
	 * Live updates. WatchEvents long polls from the newest sequence on,
	 * resumed with the answer's cursor; errors back off (1 s doubling to
	 * 30 s) and resume from the same cursor; OUT_OF_RANGE (berthd no longer
	 * keeps that far back) starts again from a full re-read. A server without
	 * WatchEvents is polled with ListServices instead.
	 */
	async function watchLoop(gen) {
		let cursor = null, backoff = BACKOFF_FIRST_MS;
		while (gen === state.generation) {
			try {
				if (cursor === null) {
					const head = await call('WatchEvents', { after_sequence: 0, max_events: 1, wait_ms: 0 });
					const last = Number(head.last_sequence) || 0;
					const oldest = Number(head.oldest_sequence) || 0;
					if (last > 0) {
						const from = Math.max(oldest > 0 ? oldest - 1 : 0, last - 20);
						const recent = await call('WatchEvents', { after_sequence: from, max_events: 20, wait_ms: 0 });
						if (gen !== state.generation)
							return;
						addEvents(recent.events || []);
					}
					cursor = last;
					await refreshServices();
				}
				setLive('live (events)');
				const r = await call('WatchEvents', { after_sequence: cursor, wait_ms: LONG_POLL_MS, max_events: 100 },
					{ timeoutMs: LONG_POLL_MS + 10000 });
				if (gen !== state.generation)
					return;
				const events = r.events || [];
				if (r.cursor !== undefined && Number(r.cursor) >= cursor)
					cursor = Number(r.cursor);
				if (events.length) {
					addEvents(events);
					applyEvents(events);
					refreshServices().catch((e) => readFailed('Reading the services', e));
				}
				backoff = BACKOFF_FIRST_MS;
			} catch (err) {
				if (gen !== state.generation)
					return;
				/* Without a route for WatchEvents berthd answers UNIMPLEMENTED, or for
				 * a token below admin PERMISSION_DENIED (unrouted methods are admin's). */
				if (err.code === 'UNIMPLEMENTED' || err.code === 'PERMISSION_DENIED') {
					$('events-section').hidden = true;
					return pollLoop(gen);
				}
				if (err.code === 'UNAUTHENTICATED' && state.token)
					return tokenRefused(err);
				if (err.code === 'OUT_OF_RANGE' && cursor !== null) {
					cursor = null;
					continue;
				}
				const wait = jittered(backoff);
				setLive('reconnecting in ' + Math.ceil(wait / 1000) + ' s (' + err.code + ')');
				await sleep(wait);
				backoff = nextBackoff(backoff);
				if (cursor !== null)
					refreshServices().catch(() => {});
			}
		}
	}

	/* For a berthd without WatchEvents: ListServices every few seconds. */
	async function pollLoop(gen) {
		let backoff = BACKOFF_FIRST_MS;
		while (gen === state.generation) {
			try {
				await refreshServices();
				setLive('polling every ' + POLL_MS / 1000 + ' s');
				backoff = BACKOFF_FIRST_MS;
				await sleep(POLL_MS);
			} catch (err) {
				if (gen !== state.generation)
					return;
				if (err.code === 'UNAUTHENTICATED' && state.token)
					return tokenRefused(err);
				const wait = jittered(backoff);
				setLive('reconnecting in ' + Math.ceil(wait / 1000) + ' s (' + err.code + ')');
				await sleep(wait);
				backoff = nextBackoff(backoff);
			}
		}
	}

	async function healthLoop(gen) {
		while (gen === state.generation) {
			await sleep(HEALTH_MS);
			if (gen !== state.generation)
				return;
			try {
				const h = await call('Health', {});
				if (gen !== state.generation)
					return;
				applyHealth(h);
				if ((h.caller_role || '') === '' && state.token)
					return tokenRefused(new ApiError('UNAUTHENTICATED', 'the token is no longer valid', [], 401));
				if (h.caller_role && h.caller_role !== state.role) {
					state.role = h.caller_role;
					applyRole();
					refreshTemplates().catch((e) => readFailed('Reading the templates', e));
				}
			} catch (err) {
				setText($('server-status'), 'not answering');
			}
		}
	}

	async function templatesLoop(gen) {
		while (gen === state.generation) {
			try {
				await refreshTemplates();
			} catch (err) {
				if (gen === state.generation)
					readFailed('Reading the templates', err);
			}
			await sleep(TEMPLATES_MS);
		}
	}

	/* --- logs ---------------------------------------------------------------------------- */

	function openLogs(id) {
		closeLogs();
		const session = { serviceId: id, stopped: false };
		state.logs = session;
		setText($('logs-service'), id);
		setText($('logs-state'), '');
		$('logs').textContent = '';
		$('logs-section').hidden = false;
		followLogs(session, state.generation);
	}

	function closeLogs() {
		if (state.logs)
			state.logs.stopped = true;
		state.logs = null;
		$('logs-section').hidden = true;
	}

	function appendLogs(text, replace) {
		const pre = $('logs');
		const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
		if (replace)
			pre.textContent = text;
		else if (text)
			pre.append(text);
		if (pre.textContent.length > LOG_CHARS_KEPT)
			pre.textContent = pre.textContent.slice(-LOG_CHARS_KEPT);
		if (atBottom || replace)
			pre.scrollTop = pre.scrollHeight;
	}

	/*
	 * GetServiceLogs: the last 200 lines, then long polls with the cursor
	 * until the container stops (ended). A server that gives no cursor does
	 * not follow: the tail is read again every few seconds.
	 */
	async function followLogs(session, gen) {
		let cursor = '', backoff = BACKOFF_FIRST_MS;
		const active = () => !session.stopped && gen === state.generation;
		while (active()) {
			try {
				const request = cursor
					? { service_id: session.serviceId, follow: true, cursor, wait_ms: LONG_POLL_MS }
					: { service_id: session.serviceId, tail: 200, follow: true, wait_ms: 0 };
				const r = await call('GetServiceLogs', request, { timeoutMs: LONG_POLL_MS + 10000 });
				if (!active())
					return;
				appendLogs(r.logs || '', cursor === '');
				backoff = BACKOFF_FIRST_MS;
				if (r.ended) {
					setText($('logs-state'), '(the container is not running)');
					return;
				}
				if (r.cursor) {
					cursor = r.cursor;
					setText($('logs-state'), '(following)');
				} else {
					setText($('logs-state'), '(read again every ' + POLL_MS / 1000 + ' s)');
					await sleep(POLL_MS);
				}
			} catch (err) {
				if (!active())
					return;
				if (err.code === 'UNAUTHENTICATED' && state.token)
					return tokenRefused(err);
				if (['NOT_FOUND', 'PERMISSION_DENIED', 'UNIMPLEMENTED', 'INVALID_ARGUMENT'].includes(err.code)) {
					setText($('logs-state'), '');
					showError('Logs of ' + session.serviceId, err);
					return;
				}
				const wait = jittered(backoff);
				setText($('logs-state'), '(' + err.code + ': trying again in ' + Math.ceil(wait / 1000) + ' s)');
				await sleep(wait);
				backoff = nextBackoff(backoff);
			}
		}
	}

	/* --- sessions ------------------------------------------------------------------------------ */

	function applyRole() {
		document.body.classList.toggle('viewer', !canOperate());
		setText($('role'), state.role ? 'signed in as ' + state.role : '');
		$('logout').hidden = !state.token;
		state.templatesJson = '';
		for (const row of state.rows.values())
			row.actionsKey = null;
		renderServices();
		if (!canOperate())
			closeLogs();
	}

	function startSession() {
		const gen = ++state.generation;
		$('login').hidden = true;
		$('main').hidden = false;
		applyRole();
		templatesLoop(gen);
		watchLoop(gen);
		liveLoop(gen);
		healthLoop(gen);
	}

	function endSession() {
		state.generation++;
		closeLogs();
		state.services.clear();
		state.live.clear();
		state.rows.clear();
		state.templatesJson = '';
		state.role = '';
		$('services').tBodies[0].replaceChildren();
		$('templates').tBodies[0].replaceChildren();
		$('events').replaceChildren();
		$('events-section').hidden = false;
		$('main').hidden = true;
		setText($('role'), '');
		$('logout').hidden = true;
		setLive('–');
	}

	function showLogin() {
		$('login').hidden = false;
		$('main').hidden = true;
		$('token').focus();
	}

	/* Health says who we are: a role starts the console, "" asks for a token. */
	async function boot() {
		let backoff = BACKOFF_FIRST_MS;
		const gen = state.generation;
		for (;;) {
			try {
				const h = await call('Health', {});
				if (gen !== state.generation)
					return;
				applyHealth(h);
				state.role = h.caller_role || '';
				break;
			} catch (err) {
				if (gen !== state.generation)
					return;
				const wait = jittered(backoff);
				setText($('server-status'), 'not answering (' + err.code + '), trying again in ' + Math.ceil(wait / 1000) + ' s');
				await sleep(wait);
				backoff = nextBackoff(backoff);
			}
		}
		if (state.role === '') {
			if (state.token) {
				sessionStorage.removeItem(TOKEN_KEY);
				state.token = '';
				showMessage('The token is not valid (unknown or revoked): sign in again.', 'error');
			}
			showLogin();
			return;
		}
		startSession();
	}

	async function signIn(ev) {
		ev.preventDefault();
		const input = $('token');
		const token = input.value.trim();
		if (!/^[\x21-\x7e]{1,200}$/.test(token)) {
			showMessage('Paste a token ("berth_" and 64 hex digits).', 'error');
			return;
		}
		$('login-button').disabled = true;
		try {
			const h = await call('Health', {}, { token });
			applyHealth(h);
			if (!h.caller_role) {
				showMessage('Sign-in failed: the token is not valid (unknown or revoked).', 'error');
				return;
			}
			input.value = '';
			state.token = token;
			state.role = h.caller_role;
			sessionStorage.setItem(TOKEN_KEY, token);
			$('message').hidden = true;
			startSession();
		} catch (err) {
			showError('Sign-in failed', err);
		} finally {
			$('login-button').disabled = false;
		}
	}

	function signOut() {
		sessionStorage.removeItem(TOKEN_KEY);
		state.token = '';
		endSession();
		boot();
	}

	function init() {
		state.token = sessionStorage.getItem(TOKEN_KEY) || '';
		$('login-form').addEventListener('submit', signIn);
		$('logout').addEventListener('click', signOut);
		$('message-close').addEventListener('click', () => { $('message').hidden = true; });
		$('logs-close').addEventListener('click', closeLogs);
		$('confirm-no').addEventListener('click', () => $('confirm').close());
		$('confirm-yes').addEventListener('click', () => {
			const id = state.pendingRemove;
			const purge = $('confirm-purge').checked;
			$('confirm').close();
			if (id) {
				if (state.logs && state.logs.serviceId === id)
					closeLogs();
				runAction('Remove ' + id, 'RemoveService', { service_id: id, purge }, 'Removed ' + id);
			}
		});
		$('confirm').addEventListener('close', () => { state.pendingRemove = null; });
		setInterval(tickUptime, 1000);
		boot();
	}

	init();
}());
