import './env.js';
import { createApp } from './app.js';
import { connectCache, connectDatabase } from './db.js';

const port = Number(process.env.PORT ?? 3000);
const server = createApp({ pool: connectDatabase(), cache: await connectCache() });
server.listen(port, () => console.log(`notes-app listening on :${port}`));
