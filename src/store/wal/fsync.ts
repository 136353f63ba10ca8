// Directory fsync: on Linux a rename, create or unlink is durable only once the directory itself
// is fsynced. Used after creating a WAL segment, releasing segments and saving a snapshot file.
import { open } from 'node:fs/promises';

export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
