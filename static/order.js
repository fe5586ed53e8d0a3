// The order page's live status, countdown and payment button. Served as /static/order.js:
// the pages carry no inline script, so the Content-Security-Policy can refuse any. Without
// JavaScript the page still works: the form posts, and a <noscript> refresh keeps it current.
(function () {
  var root = document.getElementById('order');
  var orderId = root.dataset.orderId;
  var terminal = ['successful', 'not_paid', 'failed'];
  var tones = {successful: 'ok', not_paid: 'bad', failed: 'bad', created: '', pending: 'wait', paid: 'wait', make_pending: 'wait'};
  var status = root.dataset.status;

  function show(data) {
    status = data.status;
    document.getElementById('status-message').textContent = data.message;
    document.getElementById('status').className = 'status ' + (tones[data.status] || '');
    var form = document.getElementById('pay-form');
    if (form && data.status !== 'created') { form.style.display = 'none'; }
    var sbp = document.getElementById('sbp');
    if (sbp && data.status !== 'pending') { sbp.style.display = 'none'; }
  }

  // The server answers when the order leaves the status shown, or its money moves (or after
  // 25 s): the page changes the moment the order does, and asks again at once. An ended
  // order is still followed while its money is on its way back.
  var paymentStatus = root.dataset.paymentStatus || 'none';
  var moving = ['pending', 'authorized', 'refund_pending'];
  function following() {
    if (status === 'created') { return false; }
    return terminal.indexOf(status) < 0 || (status !== 'successful' && moving.indexOf(paymentStatus) >= 0);
  }
  function poll() {
    fetch('/v1/order-status/' + orderId + '?status=' + encodeURIComponent(status) +
          '&payment_status=' + encodeURIComponent(paymentStatus) + '&wait=25',
          {headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { paymentStatus = data.payment_status; show(data); }
        if (following()) { setTimeout(poll, data ? 200 : 3000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (following()) { setTimeout(poll, 300); }

  var countdown = document.getElementById('countdown');
  if (countdown) {
    var expiresAt = Date.parse(root.dataset.expiresAt);
    var tick = function () {
      var left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      countdown.textContent = '(осталось ' + m + ':' + (s < 10 ? '0' : '') + s + ')';
      if (left === 0) { setTimeout(function () { location.reload(); }, 1500); return; }
      setTimeout(tick, 1000);
    };
    tick();
  }

  var form = document.getElementById('pay-form');
  if (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = (event.submitter && event.submitter.tagName === 'BUTTON') ? event.submitter : document.getElementById('pay-button');
      var error = document.getElementById('form-error');
      var input = document.getElementById('contact');
      // Which button was pressed: «Оплатить» (card) or «Оплатить через СБП».
      var method = event.submitter && event.submitter.value === 'sbp' ? 'sbp' : 'card';
      var body = {order_id: orderId, method: method};
      var contact = input ? input.value.trim() : '';
      if (contact) { if (contact.indexOf('@') >= 0) { body.email = contact; } else { body.phone = contact; } }
      button.disabled = true;
      error.textContent = '';
      fetch('/v1/initiate-payment', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})
        .then(function (r) { return r.json().then(function (data) { return {ok: r.ok, data: data}; }); })
        .then(function (res) {
          if (res.ok && res.data.redirect_url) { window.location.href = res.data.redirect_url; return; }
          error.textContent = (res.data && res.data.message) || 'Не удалось создать платеж. Пожалуйста, попробуйте позже.';
          button.disabled = false;
        })
        .catch(function () {
          error.textContent = 'Нет связи с сервером. Пожалуйста, попробуйте снова.';
          button.disabled = false;
        });
    });
  }
})();
