# What the allowlisted /etc gives libraries: CA certificates, MIME types,
# services and protocols, the distribution's name, time zone data.
import mimetypes
import platform
import socket
import ssl

ctx = ssl.create_default_context()
print(ctx.cert_store_stats()["x509_ca"] > 100, ctx.verify_mode == ssl.CERT_REQUIRED)
print(mimetypes.guess_type("a.csv"), mimetypes.guess_type("x.webp"), mimetypes.guess_extension("image/png"))
print(socket.getservbyname("https", "tcp"), socket.getservbyport(22), socket.getprotobyname("udp"))
print(platform.freedesktop_os_release()["ID"])
import zoneinfo
print(zoneinfo.ZoneInfo("Europe/Paris").key)
import matplotlib
print(matplotlib.rcParams["font.family"], matplotlib.matplotlib_fname())
