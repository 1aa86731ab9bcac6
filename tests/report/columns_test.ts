import assert from "node:assert/strict";
import { EPOCH_LOSS_COLUMNS, METRICS_COLUMNS, SUMMARY_COLUMNS } from "../../lib/report/columns.ts";

// The CSV headers are a contract with students' tools and the report: fixed here.
Deno.test("METRICS_COLUMNS is Lab 2's metrics.csv header", () => {
  assert.equal(
    METRICS_COLUMNS.join(","),
    "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second",
  );
});

Deno.test("SUMMARY_COLUMNS and EPOCH_LOSS_COLUMNS are Lab 1's CSV headers", () => {
  assert.equal(SUMMARY_COLUMNS.join(","), "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status");
  assert.equal(EPOCH_LOSS_COLUMNS.join(","), "epoch,train_loss");
});
