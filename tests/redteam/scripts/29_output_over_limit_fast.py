# channel: writing far past the output limit faster than the watch looks
# allowed:
# limits: {"output_bytes": 1048576}
import tre_sdk

df = tre_sdk.load_dataset("admissions")
with open("big.txt", "w") as handle:
    handle.write(df.to_csv() * 40)
