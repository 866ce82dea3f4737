// WCAG 2 contrast ratios between elements' colours (text, bar or line) and what is behind them.
([selector, property]) => {
  const rgb = (text) => text.match(/[\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const behind = (el) => {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const bg = getComputedStyle(node).backgroundColor;
      const parts = rgb(bg);
      if (parts.length < 4 || parts[3] > 0) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const ratios = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || el.closest('.visually-hidden')) continue;
    const style = getComputedStyle(el);
    const fg = rgb(property === 'stroke' ? style.stroke : property === 'bar' ? (style.backgroundColor.match(/rgba\(0, 0, 0, 0\)/) ? style.boxShadow : style.backgroundColor) : style.color).slice(0, 3);
    const [a, b] = [luminance(fg), luminance(behind(el))].sort((x, y) => y - x);
    ratios.push((a + 0.05) / (b + 0.05));
  }
  return ratios;
}
