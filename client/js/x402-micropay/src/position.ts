// The payer's durable position per warrant: it is saved (fsync) before a
// signature leaves the process, so a crash never signs two totals under
// one ordinal.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

/** A payer's position under one warrant. */
export interface Position {
  epoch: number;
  ordinal: bigint; // newest ordinal signed (or adopted) in the epoch
  total: bigint; // total of that payment
  signed: bigint; // highest total ever signed in the epoch: the most the provider can settle
}

/** Where positions are kept. save must be durable when it returns. */
export interface PositionStore {
  load(warrant: string): Position | undefined;
  save(warrant: string, p: Position): void;
}

/** Keeps each warrant's position in a file of dir, written atomically and synced. */
export class FilePositionStore implements PositionStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(warrant: string): string {
    return join(this.dir, createHash("sha256").update(warrant).digest("hex").slice(0, 32) + ".json");
  }

  load(warrant: string): Position | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(warrant), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    if (text.length > 4096) throw new Error(`position file of ${text.length} bytes`);
    const j = JSON.parse(text) as Record<string, unknown>;
    if (j.warrant !== warrant || typeof j.epoch !== "number" || typeof j.ordinal !== "string" || typeof j.total !== "string" || typeof j.signed !== "string") {
      throw new Error(`position file ${this.path(warrant)} is not a position of this warrant`);
    }
    const p = { epoch: j.epoch, ordinal: BigInt(j.ordinal), total: BigInt(j.total), signed: BigInt(j.signed) };
    if (p.signed < p.total) throw new Error(`position file ${this.path(warrant)}: highest signed total below the total`);
    return p;
  }

  save(warrant: string, p: Position): void {
    const path = this.path(warrant);
    const tmp = path + ".tmp";
    const body = JSON.stringify({ warrant, epoch: p.epoch, ordinal: p.ordinal.toString(), total: p.total.toString(), signed: p.signed.toString() });
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(this.dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}
