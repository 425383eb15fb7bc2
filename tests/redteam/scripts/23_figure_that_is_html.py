# channel: a "figure" that is HTML, with script in it
# allowed:
import json

import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = int(df.iloc[0]["age"])
with open("chart.html", "w") as handle:
    handle.write(f"<html><script>document.title = '{age}'; alert({age})</script></html>")
with open("chart.svg", "w") as handle:
    handle.write(f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert({age})"></svg>')
with open(".tre-manifest.json", "w") as handle:
    json.dump(
        {
            "chart": {"type": "figure", "file": "chart.html"},
            "vector": {"type": "figure", "file": "chart.svg"},
        },
        handle,
    )
