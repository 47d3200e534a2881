-- wrk script: POST the sample pacs.008 to the proxy's SPI port (scripts/load.sh).
local f = assert(io.open(os.getenv("PIX_SAMPLE") or "samples/pacs.008.xml", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/xml; charset=utf-8"
