import dotenv from 'dotenv';

// Like many apps, this one reads its env file and lets it win over the environment: berth writes the
// container's view there (services by name), which is where the app runs.
dotenv.config({ path: '.env.local', override: true, quiet: true });
