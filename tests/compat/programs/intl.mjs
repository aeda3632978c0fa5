const d = new Date(Date.UTC(2024, 2, 10, 15, 4, 5));
for (const loc of ['en-US', 'de-DE', 'fr-FR', 'ja-JP', 'ar-EG', 'hi-IN', 'zh-CN']) {
	console.log(loc,
		new Intl.NumberFormat(loc).format(1234567.891),
		new Intl.NumberFormat(loc, { style: 'currency', currency: 'EUR' }).format(42.5),
		new Intl.DateTimeFormat(loc, { dateStyle: 'full', timeStyle: 'short', timeZone: 'UTC' }).format(d));
}
console.log(new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', timeZoneName: 'short', hour: 'numeric' }).format(d));
console.log(new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', hour: '2-digit', minute: '2-digit' }).format(d));
console.log(['ä', 'a', 'z', 'Z'].sort(new Intl.Collator('de').compare), ['ä', 'a', 'z'].sort(new Intl.Collator('sv').compare));
const pr = new Intl.PluralRules('en-US', { type: 'ordinal' });
console.log([1, 2, 3, 4, 11, 21].map((n) => n + pr.select(n)));
console.log(new Intl.RelativeTimeFormat('es', { numeric: 'auto' }).format(-1, 'day'));
console.log(new Intl.ListFormat('en', { type: 'conjunction' }).format(['a', 'b', 'c']));
console.log(new Intl.NumberFormat('en', { notation: 'compact' }).format(1234567), (0.256).toLocaleString('en', { style: 'percent' }));
console.log(new Intl.DisplayNames(['en'], { type: 'region' }).of('BR'), new Intl.Segmenter('en', { granularity: 'word' }).segment('Hi there!')[Symbol.iterator]().next().value.segment);
console.log('İstanbul'.toLocaleLowerCase('tr'), 'straße'.localeCompare('strasse', 'de'), Intl.DateTimeFormat().resolvedOptions().timeZone);
