const orders = [
	{ id: 1, customer: 'ana', items: [{ sku: 'x', qty: 2, price: 3.5 }, { sku: 'y', qty: 1, price: 10 }] },
	{ id: 2, customer: 'ben', items: [{ sku: 'x', qty: 5, price: 3.5 }] },
	{ id: 3, customer: 'ana', items: [] },
];
const total = (o) => o.items.reduce((s, i) => s + i.qty * i.price, 0);
const byCustomer = {};
for (const o of orders) (byCustomer[o.customer] ??= []).push(total(o));
console.log(byCustomer);
const skus = orders.flatMap((o) => o.items).reduce((m, i) => m.set(i.sku, (m.get(i.sku) ?? 0) + i.qty), new Map());
console.log([...skus.entries()].sort());
const text = JSON.stringify(orders, (k, v) => (k === 'price' ? undefined : v));
console.log(text.length, JSON.parse(text, (k, v) => (k === 'qty' ? v * 10 : v))[1].items[0]);
console.log(Object.entries({ b: 2, a: 1 }).sort(([x], [y]) => x.localeCompare(y)), Object.fromEntries([['k', 'v']]));
const csv = 'name,score\nann,3\nbob,5\n';
const [head, ...rows] = csv.trim().split('\n').map((l) => l.split(','));
console.log(rows.map((r) => Object.fromEntries(r.map((v, i) => [head[i], isNaN(v) ? v : Number(v)]))));
console.log('%s has %d items', 'cart', 3);
console.log(new Date(Date.UTC(2024, 0, 31)).toISOString(), new Date('2024-02-29T12:00:00Z').getUTCDay());
