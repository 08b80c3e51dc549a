package main

// page is GET /: pick or drop an image, see it and its top five. With
// ?image=PATH (same origin) it classifies that image on load, which is
// how a headless browser test drives it.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MobileNet classifier</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 #drop { border: 2px dashed #888; border-radius: 8px; padding: 2rem; text-align: center; cursor: pointer; }
 #drop.over { background: #eef; border-color: #44a; }
 #result { display: flex; gap: 1.5rem; margin-top: 1.5rem; align-items: flex-start; }
 #preview { width: 12rem; height: auto; image-rendering: pixelated; border: 1px solid #ccc; }
 table { border-collapse: collapse; }
 td { padding: .2rem .6rem; }
 .bar { background: #48c; height: .8rem; }
 #error { color: #b00; }
</style>
</head>
<body>
<h1>MobileNet classifier</h1>
<p id="model">…</p>
<div id="drop">Drop a JPEG or PNG here, or click to pick one.<input id="file" type="file" accept="image/jpeg,image/png" hidden></div>
<p id="error"></p>
<div id="result" hidden><img id="preview" alt="the image"><table id="top"></table></div>
<script>
const drop = document.getElementById('drop'), file = document.getElementById('file');
fetch('/v1/model').then(r => r.json()).then(m => {
  document.getElementById('model').textContent = 'MobileNet v1, alpha ' + m.config.alpha + ', ' + m.classes.length + ' classes (' + m.classes.slice(0, 4).join(', ') + ', …), precision ' + m.precision;
});
drop.onclick = () => file.click();
file.onchange = () => file.files.length && send(file.files[0]);
drop.ondragover = e => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = e => { e.preventDefault(); drop.classList.remove('over'); e.dataTransfer.files.length && send(e.dataTransfer.files[0]); };
const given = new URLSearchParams(location.search).get('image');
if (given && given.startsWith('/')) fetch(given).then(r => r.blob()).then(send);
async function send(f) {
  document.getElementById('error').textContent = '';
  document.getElementById('preview').src = URL.createObjectURL(f);
  const r = await fetch('/v1/classify?top=5', {method: 'POST', body: f, headers: {'Content-Type': f.type || 'application/octet-stream'}});
  const j = await r.json();
  if (!r.ok) { document.getElementById('error').textContent = j.error; document.getElementById('result').hidden = true; return; }
  const t = document.getElementById('top');
  t.innerHTML = '';
  for (const c of j.top) {
    const row = t.insertRow();
    row.insertCell().textContent = c.name;
    row.insertCell().textContent = (100 * c.probability).toFixed(1) + '%';
    const bar = document.createElement('div'); bar.className = 'bar'; bar.style.width = (8 * c.probability) + 'rem';
    row.insertCell().appendChild(bar);
  }
  document.getElementById('result').hidden = false;
}
</script>
</body>
</html>
`
