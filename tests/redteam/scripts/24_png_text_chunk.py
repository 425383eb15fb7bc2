# channel: a PNG figure carrying text in a metadata chunk
# allowed:
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import tre_sdk

df = tre_sdk.load_dataset("admissions")
figure, axes = plt.subplots()
axes.plot([1, 2, 3])
figure.savefig("plot.png", metadata={"Comment": df.head(3).to_csv()})
