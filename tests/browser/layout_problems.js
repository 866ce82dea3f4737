// Run in the page: everything a person would see spilling out, overlapping, too small.
// Elements inside .visually-hidden (for screen readers only) are left out.
() => {
  const problems = [];
  const seen = (el) => !el.closest('.visually-hidden') && el.getClientRects().length > 0;
  const root = document.querySelector('.rs-dashboard');
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth);
  const boxes = root.querySelectorAll(
    '.rs-card, .rs-card-label, .rs-card-value, .rs-change, .rs-chart, figcaption, .rs-legend li,'
    + ' .rs-shares th, .rs-shares td, .rs-banner, .rs-status, .rs-compared, .rs-bad-values');
  for (const el of boxes) {
    if (!seen(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1)
      problems.push('spills: ' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '"');
  }
  for (const el of root.querySelectorAll('.rs-card')) {
    const card = el.getBoundingClientRect();
    for (const inner of el.querySelectorAll('span')) {
      if (!seen(inner)) continue;
      const r = inner.getBoundingClientRect();
      if (r.right > card.right + 1 || r.left < card.left - 1)
        problems.push('out of its card: "' + inner.textContent.trim().slice(0, 30) + '"');
    }
  }
  const small = [...root.querySelectorAll('.rs-tick, .rs-hour, .rs-legend li, .rs-shares td, .rs-shares th')]
    .filter(seen).filter(el => parseFloat(getComputedStyle(el).fontSize) < 11);
  for (const el of small) problems.push('text under 11 px: ' + el.textContent.trim());
  for (const axis of root.querySelectorAll('.rs-xaxis')) {
    const labels = [...axis.querySelectorAll('.rs-hour')].filter(seen)
      .map(el => el.getBoundingClientRect());
    for (let i = 1; i < labels.length; i++)
      if (labels[i].left < labels[i - 1].right) problems.push('hour labels overlap');
  }
  return problems;
}
