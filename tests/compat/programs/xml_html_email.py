import email.message
import html
import xml.etree.ElementTree as ET
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

doc = ET.fromstring("<catalog><book id='1' lang='en'><title>Dune</title><price>9.99</price></book>"
                    "<book id='2'><title>Solaris</title><price>12.50</price></book></catalog>")
for b in doc.iter("book"):
    print(b.get("id"), b.findtext("title"), float(b.findtext("price")), b.attrib.get("lang", "-"))
new = ET.SubElement(doc, "book", id="3")
ET.SubElement(new, "title").text = "Ubik & co"
print(ET.tostring(new, encoding="unicode"))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href"))


p = Links()
p.feed('<p>See <a href="/a">a</a> and <A HREF="https://x.org/?q=1&amp;r=2">x</A></p>')
print(p.links, html.escape("<b>&\"</b>"), html.unescape("&lt;&eacute;&#x41;"))
msg = email.message.EmailMessage()
msg["Subject"] = "Report ✓"
msg["To"] = "a@example.com"
msg.set_content("Hello\nWorld")
msg.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream", filename="x.bin")
parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
print(parsed["Subject"], [part.get_filename() for part in parsed.iter_attachments()],
      parsed.get_body(("plain",)).get_content().strip())
