// Bluezone console script: the copy button, and opening the F1 contact details sealed to a
// preventive-medicine unit, in the browser, with the unit's key file. The key is read from the
// chosen file into this page's memory and never sent anywhere.
//
// Opening is HPKE base mode (RFC 9180) for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
// AES-128-GCM, as SPEC.md §10 specifies, built from WebCrypto's X25519, HMAC-SHA256 and AES-GCM.
'use strict';

(function () {
  const utf8 = new TextEncoder();

  // ---- HPKE base-mode open ----

  const HPKE_V1 = utf8.encode('HPKE-v1');
  const KEM_SUITE_ID = Uint8Array.of(0x4b, 0x45, 0x4d, 0x00, 0x20); // "KEM" 0x0020
  const HPKE_SUITE_ID = Uint8Array.of(0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, 0x01);
  // SPEC.md §10.1: the HPKE info of F1 contact details.
  const CONTACT_DETAILS_INFO = utf8.encode('bluezone v1 F1 contact details');
  // PKCS #8 wrapping of a raw X25519 private key (RFC 8410): WebCrypto imports private keys
  // only in this form or as a JWK.
  const PKCS8_X25519_PREFIX = Uint8Array.of(
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20);
  const SEALED_LEN = 32 + 128 + 16;

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function fromHex(text) {
    if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error('hex');
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function base64UrlToBytes(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  // HMAC-SHA256(key, data). An empty key is the same HMAC key as 32 zero bytes (HMAC pads keys
  // with zeros to the block size), which is what HKDF-Extract uses for an empty salt; WebCrypto
  // refuses empty HMAC keys, so the zeros are spelled out.
  async function hmac(key, data) {
    const k = await crypto.subtle.importKey(
      'raw', key.length ? key : new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
  }

  // LabeledExtract (RFC 9180 §4).
  function labeledExtract(suiteId, salt, label, ikm) {
    return hmac(salt, concat(HPKE_V1, suiteId, utf8.encode(label), ikm));
  }

  // LabeledExpand (RFC 9180 §4) for lengths up to 32 bytes: HKDF-Expand's first block.
  async function labeledExpand(suiteId, prk, label, info, length) {
    if (length > 32) throw new Error('length');
    const labeledInfo = concat(Uint8Array.of(length >> 8, length & 0xff), HPKE_V1, suiteId,
      utf8.encode(label), info);
    const block = await hmac(prk, concat(labeledInfo, Uint8Array.of(1)));
    return block.slice(0, length);
  }

  // The unit's key: the private CryptoKey and the raw public key.
  async function importUnitKey(rawPrivate) {
    const privateKey = await crypto.subtle.importKey(
      'pkcs8', concat(PKCS8_X25519_PREFIX, rawPrivate), { name: 'X25519' }, true, ['deriveBits']);
    const jwk = await crypto.subtle.exportKey('jwk', privateKey);
    return { privateKey, publicKey: base64UrlToBytes(jwk.x) };
  }

  // OpenBase (RFC 9180 §6.1) of one sealed message, sequence number 0.
  async function openBase(unitKey, enc, info, aad, ciphertext) {
    const encKey = await crypto.subtle.importKey('raw', enc, { name: 'X25519' }, false, []);
    // X25519; WebCrypto refuses an all-zero result (a low-order `enc`), as §7.1.4 asks.
    const dh = new Uint8Array(await crypto.subtle.deriveBits(
      { name: 'X25519', public: encKey }, unitKey.privateKey, 256));
    // DHKEM ExtractAndExpand (§4.1).
    const kemContext = concat(enc, unitKey.publicKey);
    const eaePrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dh);
    const sharedSecret = await labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, 32);
    // KeySchedule (§5.1), base mode: empty PSK and PSK id.
    const pskIdHash = await labeledExtract(HPKE_SUITE_ID, new Uint8Array(0), 'psk_id_hash', new Uint8Array(0));
    const infoHash = await labeledExtract(HPKE_SUITE_ID, new Uint8Array(0), 'info_hash', info);
    const context = concat(Uint8Array.of(0), pskIdHash, infoHash);
    const secret = await labeledExtract(HPKE_SUITE_ID, sharedSecret, 'secret', new Uint8Array(0));
    const key = await labeledExpand(HPKE_SUITE_ID, secret, 'key', context, 16);
    const baseNonce = await labeledExpand(HPKE_SUITE_ID, secret, 'base_nonce', context, 12);
    const aesKey = await crypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt']);
    // Sequence number 0: the nonce is the base nonce.
    return new Uint8Array(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: baseNonce, additionalData: aad, tagLength: 128 }, aesKey, ciphertext));
  }

  // The 128-byte contact details (SPEC.md §10.1).
  function parseContactDetails(p, district) {
    const phoneLen = p[0];
    const nameLen = p[16];
    if (p.length !== 128 || phoneLen < 1 || phoneLen > 15 || nameLen > 95) throw new Error('layout');
    const zero = (from, to) => p.subarray(from, to).every((b) => b === 0);
    if (!zero(1 + phoneLen, 16) || !zero(17 + nameLen, 112) || !zero(124, 128)) throw new Error('layout');
    const phone = String.fromCharCode(...p.subarray(1, 1 + phoneLen));
    if (!/^[0-9]+$/.test(phone)) throw new Error('layout');
    const name = new TextDecoder('utf-8', { fatal: true }).decode(p.subarray(17, 17 + nameLen));
    const sealedDistrict = new DataView(p.buffer, p.byteOffset + 112, 4).getUint32(0, true);
    if (sealedDistrict !== district) throw new Error('district');
    return { phone, name };
  }

  // Open one F1 row's sealed contact details (SPEC.md §10.1: aad = report id ‖ LE32(district)).
  async function openRow(unitKey, sealedHex, reportIdHex, district) {
    const sealed = fromHex(sealedHex);
    if (sealed.length !== SEALED_LEN) throw new Error('length');
    const aad = new Uint8Array(20);
    aad.set(fromHex(reportIdHex), 0);
    new DataView(aad.buffer).setUint32(16, district, true);
    const plaintext = await openBase(unitKey, sealed.subarray(0, 32), CONTACT_DETAILS_INFO, aad,
      sealed.subarray(32));
    return parseContactDetails(plaintext, district);
  }

  // The HPKE open, for checking it against RFC 9180's test vectors from the browser test. It
  // holds no key: a key exists only inside the key-file handler below.
  window.BluezoneHpke = Object.freeze({ importUnitKey, openBase, fromHex, toHex });

  // ---- the page ----

  // A copy button copies the text of the element `data-copy` names, or its own `data-copy-text`
  // (a shortened F1 ID's whole ID, shown in the code element before the button if the
  // clipboard refuses).
  function setUpCopyButtons() {
    for (const button of document.querySelectorAll('button[data-copy], button[data-copy-text]')) {
      button.addEventListener('click', async () => {
        const target = button.dataset.copy
          ? document.getElementById(button.dataset.copy)
          : button.parentElement.querySelector('code');
        if (!target) return;
        const text = button.dataset.copyText || target.textContent.trim();
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = button.dataset.copied;
        } catch (e) {
          // No clipboard permission: select the code so the worker can copy it by hand.
          target.textContent = text;
          const range = document.createRange();
          range.selectNodeContents(target);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
      });
    }
  }

  // A CSV field: quoted when needed, and with a leading apostrophe when a spreadsheet would
  // otherwise read it as a formula (names come from F1 phones and are not trusted): the rule
  // of `spreadsheet_safe` in the `bluezone-export` crate.
  function csvField(value) {
    let v = String(value);
    if (/^[=+\-@\t\r]/.test(v)) v = "'" + v;
    return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }

  // A phone number as the F1's phone gave it (digits, from the country code: 84912345678) as
  // Vietnamese write it (0912 345 678: mobile 4-3-3, landline 3-4-4), and as a tel: link.
  function phoneText(digits) {
    const national = digits.startsWith('84') ? '0' + digits.slice(2) : digits;
    if (!national.startsWith('0')) return '+' + digits;
    if (national.length === 10) return national.replace(/^(\d{4})(\d{3})(\d{3})$/, '$1 $2 $3');
    if (national.length === 11) return national.replace(/^(\d{3})(\d{4})(\d{4})$/, '$1 $2 $3');
    return national;
  }

  function phoneLink(digits) {
    return 'tel:' + (digits.startsWith('0') ? digits : '+' + digits);
  }

  function setUpUnitInbox() {
    const inbox = document.getElementById('inbox');
    const input = document.getElementById('unit-key');
    if (!inbox || !input) return;
    const status = document.getElementById('key-status');
    const exportButton = document.getElementById('export-opened');
    const say = (text, bad) => {
      status.textContent = text;
      status.className = bad ? 'alert error' : 'alert ok';
    };
    const opened = new Map();

    input.addEventListener('change', async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      const text = (await file.text()).trim();
      // Forget the file in the form: nothing about it goes anywhere.
      input.value = '';
      if (!/^[0-9a-fA-F]{64}$/.test(text)) { say(inbox.dataset.msgBadFormat, true); return; }
      if (!(window.crypto && crypto.subtle)) { say(inbox.dataset.msgOldBrowser, true); return; }
      let unitKey;
      try {
        unitKey = await importUnitKey(fromHex(text));
      } catch (e) {
        say(inbox.dataset.msgOldBrowser, true);
        return;
      }
      if (toHex(unitKey.publicKey) !== inbox.dataset.unitPublicKey.toLowerCase()) {
        say(inbox.dataset.msgWrongUnit, true);
        return;
      }
      let count = 0;
      for (const row of document.querySelectorAll('#unit-rows tbody tr')) {
        const cell = row.querySelector('td.phone');
        try {
          const details = await openRow(unitKey, cell.dataset.sealed, row.dataset.f1Id,
            Number(row.dataset.district));
          const number = document.createElement('a');
          number.className = 'number';
          number.textContent = phoneText(details.phone);
          number.href = phoneLink(details.phone);
          cell.replaceChildren(number);
          if (details.name) {
            const name = document.createElement('span');
            name.className = 'name';
            name.textContent = details.name;
            cell.append(name);
          }
          opened.set(row, details);
          count += 1;
        } catch (e) {
          const failed = document.createElement('span');
          failed.className = 'failed';
          failed.textContent = inbox.dataset.msgOpenFailed;
          cell.replaceChildren(failed);
        }
      }
      say(inbox.dataset.msgOpened + ' ' + count, false);
      if (exportButton) exportButton.hidden = count === 0;
    });

    // Follow-up is saved in the background, so the page (and the numbers opened in it) stays.
    // The form's fields, its CSRF token among them, are sent as the form would send them.
    for (const form of document.querySelectorAll('#unit-rows form.follow-up')) {
      const state = form.querySelector('.save-state');
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const button = form.querySelector('button[type=submit]');
        button.disabled = true;
        state.className = 'save-state';
        state.textContent = '';
        let failure = inbox.dataset.msgSaveFailed;
        try {
          // A redirect means the session ended (the login page): an error, not a save.
          const response = await fetch(form.action, {
            method: 'POST',
            body: new URLSearchParams(new FormData(form)),
            headers: { Accept: 'application/json' },
            credentials: 'same-origin',
            redirect: 'error',
          });
          const answer = await response.json().catch(() => ({}));
          if (!response.ok || !answer.status) {
            if (answer.error) failure = answer.error;
            throw new Error('not saved');
          }
          form.closest('tr').dataset.followUp = answer.status;
          state.textContent = answer.saved;
          state.classList.add('ok');
        } catch (e) {
          state.textContent = failure;
          state.classList.add('failed');
        } finally {
          button.disabled = false;
        }
      });
    }

    if (exportButton) {
      exportButton.addEventListener('click', () => {
        // The columns and each row's fields come from the server (the `bluezone-export`
        // crate, the schema of every F1 export); the page adds the two opened columns.
        const lines = [inbox.dataset.csvHeader];
        for (const [row, details] of opened) {
          lines.push(row.dataset.csv + ',' + [details.phone, details.name].map(csvField).join(','));
        }
        // A byte-order mark first, as the server's download has: spreadsheets then read UTF-8.
        const blob = new Blob(['\uFEFF' + lines.join('\r\n') + '\r\n'],
          { type: 'text/csv;charset=utf-8' });
        const link = document.createElement('a');
        link.href = URL.createObjectURL(blob);
        link.download = 'f1-' + inbox.dataset.unit + '.csv';
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(link.href), 1000);
      });
    }
  }

  // A table's scroller can be reached and scrolled from the keyboard, and is named by its
  // card's heading.
  function setUpScrollers() {
    for (const scroller of document.querySelectorAll('.scroll')) {
      const section = scroller.closest('section');
      const heading = section && section.querySelector('h1, h2');
      scroller.tabIndex = 0;
      if (heading) {
        scroller.setAttribute('role', 'region');
        scroller.setAttribute('aria-label', heading.textContent.trim());
      }
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    setUpScrollers();
    setUpCopyButtons();
    setUpUnitInbox();
  });
})();
